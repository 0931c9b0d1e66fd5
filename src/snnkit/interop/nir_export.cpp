// snnkit/interop/nir_export.cpp: snnkit SNN graph -> NIR (HDF5). See nir_io.h for the mapping.
#include "snnkit/interop/h5_io.h"
#include "snnkit/interop/nir_common.h"
#include "snnkit/interop/nir_fold.h"
#include "snnkit/interop/nir_io.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/bn_fold.h"
#include "snnkit/nn/forward.h"

#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>

namespace snnkit {

namespace {

std::string where_of(const node & n) { return "layer '" + n.name + "' (" + op_to_string(n.op) + ")"; }

// The graph NIR receives: BN folded into conv / linear, dropout removed; anything NIR cannot carry refused.
graph nir_ready(const graph & src) {
    graph g = src.clone();
    fold_batch_norm(g);
    for (int i = static_cast<int>(g.nodes.size()) - 1; i > 0; --i) {
        if (g.nodes[i].op == op_kind::dropout) {
            g.remove_node(i);
        }
    }
    for (const auto & n : g.nodes) {
        switch (n.op) {
        case op_kind::batch_norm:
            fail(where_of(n), "BatchNorm that cannot be folded into a preceding conv / linear has no NIR form");
        case op_kind::max_pool:
            fail(where_of(n), "NIR has no max-pooling node");
        case op_kind::relu:
        case op_kind::clip_relu:
        case op_kind::qcfs:
            fail(where_of(n), "analog ReLU in the graph: NIR export needs an SNN (run `snnkit convert` first)");
        default:
            break;
        }
        // Every tensor must have a place in the file: weight / bias of conv and linear, a spike node's buffers
        // and its learned alpha (train-snn --learn-alpha; saved models carry its value in the neuron attributes
        // too, which the LIF's tau is written from).
        for (const auto & kv : n.params) {
            const bool weight_layer = n.op == op_kind::conv2d || n.op == op_kind::linear;
            if (n.op == op_kind::spike && kv.first == "alpha" && kv.second.numel() == 1 &&
                std::abs(kv.second.item<double>() - n.attrs.neuron.alpha) <= 1e-6) {
                continue;
            }
            if (!weight_layer || (kv.first != "weight" && kv.first != "bias")) {
                fail(where_of(n), "tensor '" + kv.first + "' has no NIR form");
            }
        }
        if (!n.buffers.empty() && n.op != op_kind::spike) {
            fail(where_of(n), "buffer '" + n.buffers.begin()->first + "' has no NIR form");
        }
        if (n.op == op_kind::spike && n.attrs.neuron.alpha > 1.0) {
            fail(where_of(n), "leak factor alpha > 1 has no LIF form");
        }
    }
    return g;
}

// Each node's output shape for one sample (spike nodes keep their input's shape).
std::vector<std::vector<int64_t>> sample_shapes(const graph & g) {
    at::NoGradGuard ng;
    std::vector<at::Tensor> v(g.nodes.size());
    std::vector<std::vector<int64_t>> out(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const node & n = g.nodes[i];
        if (n.op == op_kind::input) {
            std::vector<int64_t> s{1};
            s.insert(s.end(), g.input_shape.begin(), g.input_shape.end());
            v[i] = at::zeros(s);
        } else if (n.op == op_kind::spike) {
            v[i] = v[n.inputs[0]];
        } else {
            std::vector<at::Tensor> in;
            for (int j : n.inputs) {
                in.push_back(v[j]);
            }
            v[i] = apply_op(n, in, false);
        }
        out[i] = std::vector<int64_t>(v[i].sizes().begin() + 1, v[i].sizes().end());
    }
    return out;
}

class exporter {
public:
    exporter(const graph & g, const std::string & meta)
        : g_(g), meta_(meta), shapes_(sample_shapes(g)), fold_(plan_amplitude_fold(g, shapes_)) {
        names_.insert(g.nodes[0].name);
        for (const auto & n : g.nodes) {
            names_.insert(n.name);
        }
        output_name_ = names_.count("output") ? "snnkit_output" : "output";
    }

    void write(h5_file & f) {
        f.write_string("/version", kNirVersion);
        f.group("/node");
        f.write_string("/node/type", "NIRGraph");
        f.group("/node/nodes");
        f.group("/node/metadata");
        f.write_string("/node/metadata/snnkit_format", kSnnkitNirFormat);
        f.write_string("/node/metadata/snnkit_meta", meta_);
        f.write_string("/node/metadata/snnkit_arch", g_.arch);
        f.write_floats("/node/metadata/snnkit_dt", at::scalar_tensor(1.0, at::kFloat));
        for (size_t i = 0; i < g_.nodes.size(); ++i) {
            if (g_.nodes[i].op != op_kind::add) {
                write_node(f, static_cast<int>(i));
            }
        }
        const std::string out = "/node/nodes/" + output_name_;
        f.group(out);
        f.write_string(out + "/type", "Output");
        f.write_ints(out + "/shape", shapes_.back());
        const int last = static_cast<int>(g_.nodes.size()) - 1;
        if (g_.nodes[last].op == op_kind::add) { // its inputs' edges into the Output (NIR sums them)
            f.group(out + "/metadata");
            write_sum_metadata(f, out, last);
        }
        for (const auto & s : sources(last)) {
            edges_.emplace_back(s, output_name_);
        }
        f.write_string_pairs("/node/edges", edges_);
    }

private:
    const graph & g_;
    const std::string & meta_;
    std::vector<std::vector<int64_t>> shapes_;
    amplitude_fold_plan fold_; // spike amplitudes V_th written into the next weights instead of a Scale node
    std::set<std::string> names_;
    std::string output_name_;
    std::vector<std::pair<std::string, std::string>> edges_;

    bool folded(int i) const { return std::find(fold_.folded.begin(), fold_.folded.end(), i) != fold_.folded.end(); }
    bool scaled(int i) const { return g_.nodes[i].op == op_kind::spike && g_.nodes[i].attrs.neuron.spike_vth && !folded(i); }

    // NIR name of the node that carries node i's output (a spike's Scale when spikes carry V_th unfolded).
    std::string out_name(int i) const { return scaled(i) ? g_.nodes[i].name + kScaleSuffix : g_.nodes[i].name; }

    // A conv / linear weight as NIR readers take it: times the V_th of the spikes it reads where that amplitude
    // is folded, a grouped conv's as the dense block-diagonal weight (groups 1); snnkit's own weight and groups
    // are then kept in the metadata, so that the import restores them bit for bit.
    void write_weight(h5_file & f, int i, const std::string & p) {
        const node & n = g_.nodes[i];
        const auto it = fold_.into.find(i);
        const int64_t groups = n.op == op_kind::conv2d ? n.attrs.groups : 1;
        at::Tensor w = it == fold_.into.end() ? n.tensor("weight") : amplitude_folded_weight(g_, i, it->second, shapes_);
        if (groups > 1) {
            w = dense_conv_weight(w, groups);
            f.write_ints(p + "/metadata/snnkit_groups", {groups}, true);
        }
        if (n.op == op_kind::conv2d) {
            f.write_ints(p + "/groups", {1}, true);
        }
        f.write_floats(p + "/weight", w);
        if (it != fold_.into.end() || groups > 1) {
            f.write_floats(p + "/metadata/snnkit_weight", n.tensor("weight"));
        }
        if (it != fold_.into.end()) {
            f.write_string(p + "/metadata/snnkit_amplitude_of", g_.nodes[it->second].name);
        }
    }

    // NIR nodes whose outputs make node i's value: adds expand into their inputs (NIR sums the edges).
    std::vector<std::string> sources(int i) const {
        if (g_.nodes[i].op != op_kind::add) {
            return {out_name(i)};
        }
        std::vector<std::string> s;
        for (int j : g_.nodes[i].inputs) {
            for (auto & x : sources(j)) {
                s.push_back(std::move(x));
            }
        }
        return s;
    }

    // Where node `src` is an add (NIR has no node for it: the edges of its inputs are summed), records its name
    // and place in the metadata group of p, the node reading it, so that the import rebuilds the same add.
    void write_sum_metadata(h5_file & f, const std::string & p, int src) {
        if (g_.nodes[src].op == op_kind::add) {
            f.write_string(p + "/metadata/snnkit_add_name", g_.nodes[src].name);
            f.write_ints(p + "/metadata/snnkit_add_index", {src}, true);
        }
    }

    void write_node(h5_file & f, int i) {
        const node & n = g_.nodes[i];
        const std::string p = "/node/nodes/" + n.name;
        const auto & a = n.attrs;
        f.group(p);
        f.group(p + "/metadata");
        f.write_ints(p + "/metadata/snnkit_index", {i}, true);
        if (!n.inputs.empty()) {
            const int src = n.inputs[0];
            write_sum_metadata(f, p, src);
            for (const auto & s : sources(src)) {
                edges_.emplace_back(s, n.name);
            }
        }
        const std::vector<int64_t> & in_shape = n.inputs.empty() ? shapes_[0] : shapes_[n.inputs[0]];
        switch (n.op) {
        case op_kind::input:
            f.write_string(p + "/type", "Input");
            f.write_ints(p + "/shape", g_.input_shape);
            break;
        case op_kind::conv2d: {
            f.write_string(p + "/type", "Conv2d");
            write_weight(f, i, p);
            const at::Tensor b = n.tensor("bias");
            f.write_floats(p + "/bias", b.defined() ? b : at::zeros({a.out}));
            if (!b.defined()) {
                f.write_ints(p + "/metadata/snnkit_no_bias", {1}, true);
            }
            f.write_ints(p + "/stride", {a.stride[0], a.stride[1]});
            f.write_ints(p + "/padding", {a.padding[0], a.padding[1]});
            f.write_ints(p + "/dilation", {a.dilation[0], a.dilation[1]});
            f.write_ints(p + "/input_shape", {in_shape[1], in_shape[2]});
            break;
        }
        case op_kind::linear: {
            const at::Tensor b = n.tensor("bias");
            f.write_string(p + "/type", b.defined() ? "Affine" : "Linear");
            write_weight(f, i, p);
            if (b.defined()) {
                f.write_floats(p + "/bias", b);
            }
            break;
        }
        case op_kind::avg_pool:
        case op_kind::global_avg_pool: {
            const bool global = n.op == op_kind::global_avg_pool;
            f.write_string(p + "/type", "AvgPool2d");
            f.write_ints(p + "/kernel_size", global ? std::vector<int64_t>{in_shape[1], in_shape[2]}
                                                    : std::vector<int64_t>{a.kernel[0], a.kernel[1]});
            f.write_ints(p + "/stride", global ? std::vector<int64_t>{in_shape[1], in_shape[2]}
                                               : std::vector<int64_t>{a.stride[0], a.stride[1]});
            f.write_ints(p + "/padding", global ? std::vector<int64_t>{0, 0} : std::vector<int64_t>{a.padding[0], a.padding[1]});
            f.write_ints(p + "/metadata/snnkit_count_include_pad", {a.count_include_pad ? 1 : 0}, true);
            if (global) {
                f.write_string(p + "/metadata/snnkit_op", "global_avg_pool");
            }
            break;
        }
        case op_kind::flatten:
            f.write_string(p + "/type", "Flatten");
            f.write_ints(p + "/start_dim", {0}, true);
            f.write_ints(p + "/end_dim", {-1}, true);
            f.write_ints(p + "/input_type", in_shape);
            break;
        case op_kind::spike:
            write_spike(f, i, p, in_shape);
            break;
        default:
            fail(where_of(n), "has no NIR form");
        }
    }

    void write_spike(h5_file & f, int i, const std::string & p, const std::vector<int64_t> & shape) {
        const node & n = g_.nodes[i];
        const neuron_options & o = n.attrs.neuron;
        const at::Tensor vth = per_neuron(n.tensor("v_th"), shape);
        if (o.alpha == 1.0) {
            f.write_string(p + "/type", "IF");
            f.write_floats(p + "/r", at::ones(shape));
        } else {
            const double tau = 1.0 / (1.0 - o.alpha); // Euler, dt = 1: v += (dt/tau)(-v + r I), r = tau
            f.write_string(p + "/type", "LIF");
            f.write_floats(p + "/tau", at::full(shape, tau));
            f.write_floats(p + "/r", at::full(shape, tau));
            f.write_floats(p + "/v_leak", at::zeros(shape));
        }
        f.write_floats(p + "/v_threshold", vth);
        f.write_floats(p + "/v_reset", at::zeros(shape));
        f.write_string(p + "/metadata/snnkit_neuron", neuron_to_json(o));
        f.write_floats(p + "/metadata/snnkit_v_th", n.tensor("v_th"));
        for (const auto & kv : n.buffers) {
            if (kv.first != "v_th") {
                f.write_floats(p + "/metadata/snnkit_buffer." + kv.first, kv.second);
            }
        }
        if (o.spike_vth && folded(i)) {
            // Spikes of value V_th, the amplitude folded into the weights of every conv / linear reading them.
            f.write_ints(p + "/metadata/snnkit_amplitude_folded", {1}, true);
        } else if (o.spike_vth) {
            // Spikes of value V_th: a Scale node after the 0/1 spikes of the NIR neuron.
            const std::string s = "/node/nodes/" + n.name + kScaleSuffix;
            if (names_.count(n.name + kScaleSuffix)) {
                fail(where_of(n), "name '" + n.name + kScaleSuffix + "' is taken (needed for the spike amplitude)");
            }
            f.group(s);
            f.write_string(s + "/type", "Scale");
            f.write_floats(s + "/scale", vth);
            f.group(s + "/metadata");
            f.write_string(s + "/metadata/snnkit_role", "spike_amplitude");
            edges_.emplace_back(n.name, n.name + kScaleSuffix);
        }
    }
};

} // namespace

void export_nir(const std::string & path, const graph & src, const model_meta & meta) {
    const graph g = nir_ready(src);
    h5_file f = h5_file::create();
    const std::string meta_json = model_meta_to_json(meta);
    exporter(g, meta_json).write(f);
    f.save(path);
}

} // namespace snnkit
