// snnkit/interop/nir_import.cpp: NIR (HDF5) -> snnkit SNN graph. See nir_io.h for the mapping.
#include "snnkit/interop/h5_read.h"
#include "snnkit/interop/nir_common.h"
#include "snnkit/interop/nir_io.h"

#include "snnkit/core/error.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace snnkit {

namespace {

// One node of the graph being rebuilt, before ordering.
struct item {
    node n;
    std::vector<std::string> preds; // NIR names (after Scale merging) or add names
    int64_t priority = 0;           // snnkit_index when present: the original order
};

class nir_reader {
public:
    explicit nir_reader(const h5_snapshot & f) : f_(f) {}

    graph run(model_meta * meta) {
        if (!f_.exists("/node/type") || f_.read_string("/node/type") != "NIRGraph") {
            fail(f_.name(), "/node is not a NIRGraph (not a NIR file?)");
        }
        const std::string gm = "/node/metadata/";
        if (meta != nullptr) {
            *meta = model_meta_from_json(f_.exists(gm + "snnkit_meta") ? f_.read_string(gm + "snnkit_meta") : "{}",
                                         f_.name() + ": /node/metadata/snnkit_meta");
        }
        if (f_.exists(gm + "snnkit_dt")) {
            const at::Tensor dt = f_.read_floats(gm + "snnkit_dt");
            dt_ = dt.numel() == 1 ? dt.item<double>() : -1.0;
            if (!(dt_ > 0.0) || !std::isfinite(dt_)) {
                fail(f_.name(), "/node/metadata/snnkit_dt must be one finite time step > 0");
            }
        }
        names_ = f_.children("/node/nodes");
        for (const auto & e : f_.read_string_pairs("/node/edges")) {
            if (std::find(names_.begin(), names_.end(), e.first) == names_.end() ||
                std::find(names_.begin(), names_.end(), e.second) == names_.end()) {
                fail(f_.name(), "edge " + e.first + " -> " + e.second + " names a missing node");
            }
            preds_[e.second].push_back(e.first);
            succs_[e.first].push_back(e.second);
        }
        for (const auto & name : names_) {
            types_[name] = f_.read_string(path(name) + "/type");
        }
        merge_scales();
        int64_t order = 1 << 30;
        std::string output;
        for (const auto & name : names_) {
            const std::string & t = types_[name];
            if (t == "Output") {
                if (!output.empty()) {
                    fail(f_.name(), "more than one Output node");
                }
                output = name;
            } else if (merged_.count(name) == 0) {
                add_item(name, order++);
            }
        }
        if (output.empty()) {
            fail(f_.name(), "no Output node");
        }
        if (preds_[output].size() > 1) { // NIR sums the edges into the Output: the graph ends in an add
            output_sum_ = sum_item(output, merged_preds(output), order++);
        }
        graph g = order_items(output);
        if (f_.exists(gm + "snnkit_arch")) {
            g.arch = f_.read_string(gm + "snnkit_arch");
        }
        g.validate();
        return g;
    }

private:
    const h5_snapshot & f_;
    double dt_ = 1.0;
    std::vector<std::string> names_;
    std::map<std::string, std::string> types_;
    std::map<std::string, std::vector<std::string>> preds_, succs_;
    std::map<std::string, std::string> merged_; // Scale node -> the neuron it belongs to
    std::set<std::string> amplitude_;           // neurons whose spikes carry V_th
    std::map<std::string, item> items_;
    std::string output_sum_; // the add made for several edges into the Output ("" for one edge)

    static std::string path(const std::string & name) { return "/node/nodes/" + name; }
    std::string meta(const std::string & name, const std::string & key) const {
        return path(name) + "/metadata/" + key;
    }
    [[noreturn]] void node_fail(const std::string & name, const std::string & why) const {
        fail(f_.name(), "node '" + name + "' (" + types_.at(name) + "): " + why);
    }
    // One integer of snnkit's metadata, or `fallback` when the file has none.
    int64_t meta_int(const std::string & name, const std::string & key, int64_t fallback) const {
        if (!f_.exists(meta(name, key))) {
            return fallback;
        }
        const std::vector<int64_t> v = f_.read_ints(meta(name, key));
        if (v.size() != 1) {
            node_fail(name, "metadata '" + key + "' must hold one integer, it holds " + std::to_string(v.size()));
        }
        return v[0];
    }
    std::vector<int64_t> ints(const std::string & name, const std::string & key, size_t want) const {
        if (!f_.exists(path(name) + "/" + key)) {
            node_fail(name, "missing '" + key + "'");
        }
        std::vector<int64_t> v = f_.read_ints(path(name) + "/" + key);
        if (want == 2 && v.size() == 1) {
            v.push_back(v[0]); // one value for both spatial dims
        }
        if (want > 0 && v.size() != want) {
            node_fail(name, "'" + key + "' must have " + std::to_string(want) + " values");
        }
        return v;
    }
    at::Tensor floats(const std::string & name, const std::string & key) const {
        if (!f_.exists(path(name) + "/" + key)) {
            node_fail(name, "missing '" + key + "'");
        }
        return f_.read_floats(path(name) + "/" + key);
    }

    // A conv / linear weight: snnkit's own where the file's holds a spike amplitude folded in, or a grouped
    // conv's expanded to a dense one (then `groups` input channels in the file for each of snnkit's).
    at::Tensor weight(const std::string & name, int64_t groups = 1) const {
        const at::Tensor w = floats(name, "weight");
        if (!f_.exists(meta(name, "snnkit_weight"))) {
            if (groups != 1) {
                node_fail(name, "metadata 'snnkit_groups' without 'snnkit_weight'");
            }
            return w;
        }
        const at::Tensor own = f_.read_floats(meta(name, "snnkit_weight"));
        if (own.dim() != w.dim() || own.dim() < 2 || own.size(0) != w.size(0) || own.size(1) * groups != w.size(1) ||
            !std::equal(own.sizes().begin() + 2, own.sizes().end(), w.sizes().begin() + 2)) {
            node_fail(name, "metadata 'snnkit_weight' does not fit 'weight' (groups " + std::to_string(groups) + ")");
        }
        return own;
    }

    // A Scale right after an IF / LIF (its only reader) with the neuron's thresholds: spikes of value V_th.
    void merge_scales() {
        for (const auto & name : names_) {
            if (types_[name] != "Scale") {
                continue;
            }
            const auto & p = preds_[name];
            const bool after_neuron = p.size() == 1 && (types_[p[0]] == "IF" || types_[p[0]] == "LIF") &&
                                      succs_[p[0]].size() == 1;
            if (!after_neuron || !floats(name, "scale").equal(floats(p[0], "v_threshold"))) {
                node_fail(name, "Scale is only supported as the spike amplitude (scale = v_threshold) of an IF / LIF");
            }
            merged_[name] = p[0];
            amplitude_.insert(p[0]);
        }
    }

    // The nodes feeding `name`, a Scale merged into its neuron read as that neuron.
    std::vector<std::string> merged_preds(const std::string & name) {
        std::vector<std::string> r;
        for (const auto & p : preds_[name]) {
            r.push_back(merged_.count(p) ? merged_[p] : p);
        }
        return r;
    }

    // The add that sums the edges into node `reader` (snnkit's files name it and give its place; else
    // "<reader>.add" at `priority`); returns its name.
    std::string sum_item(const std::string & reader, const std::vector<std::string> & preds, int64_t priority) {
        item add;
        add.n.op = op_kind::add;
        add.n.name = f_.exists(meta(reader, "snnkit_add_name")) ? f_.read_string(meta(reader, "snnkit_add_name"))
                                                                : reader + ".add";
        add.priority = meta_int(reader, "snnkit_add_index", priority);
        add.preds = preds;
        const auto it = items_.find(add.n.name);
        if (it != items_.end() && (it->second.n.op != op_kind::add || it->second.preds != add.preds)) {
            fail(f_.name(), "two different nodes are both called '" + add.n.name + "'");
        }
        items_[add.n.name] = add;
        return add.n.name;
    }

    void add_item(const std::string & name, int64_t order) {
        item it;
        it.priority = meta_int(name, "snnkit_index", order);
        node & n = it.n;
        n.name = name;
        it.preds = merged_preds(name);
        const std::string & t = types_[name];
        auto & a = n.attrs;
        if (t == "Input") {
            n.op = op_kind::input;
            it.priority = -1;
        } else if (t == "Conv2d") {
            n.op = op_kind::conv2d;
            // snnkit writes a grouped conv as a dense one (groups 1) and its groups in the metadata
            const int64_t dense_groups = meta_int(name, "snnkit_groups", 1);
            const at::Tensor file_w = floats(name, "weight");
            if (file_w.dim() != 4) {
                node_fail(name, "weight must be 4-d");
            }
            if (dense_groups < 1 || dense_groups > file_w.size(1)) {
                node_fail(name, "metadata 'snnkit_groups' must be 1 to the weight's input channels");
            }
            const at::Tensor w = weight(name, dense_groups);
            n.params["weight"] = w;
            if (!f_.exists(meta(name, "snnkit_no_bias"))) {
                n.params["bias"] = floats(name, "bias").reshape({-1});
            }
            const auto st = ints(name, "stride", 2), pd = ints(name, "padding", 2), dl = ints(name, "dilation", 2);
            a.stride = {st[0], st[1]};
            a.padding = {pd[0], pd[1]};
            a.dilation = {dl[0], dl[1]};
            a.groups = dense_groups > 1 ? dense_groups : ints(name, "groups", 1)[0];
            a.out = w.size(0);
            a.in = w.size(1) * a.groups;
            a.kernel = {w.size(2), w.size(3)};
        } else if (t == "Affine" || t == "Linear") {
            n.op = op_kind::linear;
            const at::Tensor w = weight(name);
            if (w.dim() != 2) {
                node_fail(name, "weight must be 2-d [out, in]");
            }
            n.params["weight"] = w;
            if (t == "Affine") {
                n.params["bias"] = floats(name, "bias").reshape({-1});
            }
            a.out = w.size(0);
            a.in = w.size(1);
        } else if (t == "AvgPool2d") {
            const bool global = f_.exists(meta(name, "snnkit_op")) && f_.read_string(meta(name, "snnkit_op")) == "global_avg_pool";
            n.op = global ? op_kind::global_avg_pool : op_kind::avg_pool;
            const auto k = ints(name, "kernel_size", 2), st = ints(name, "stride", 2), pd = ints(name, "padding", 2);
            a.kernel = {k[0], k[1]};
            a.stride = {st[0], st[1]};
            a.padding = {pd[0], pd[1]};
            a.count_include_pad = meta_int(name, "snnkit_count_include_pad", 1) != 0;
        } else if (t == "Flatten") {
            n.op = op_kind::flatten;
            const int64_t s = ints(name, "start_dim", 1)[0], e = ints(name, "end_dim", 1)[0];
            if ((s != 0 && s != 1) || e != -1) {
                node_fail(name, "only a full flatten (start_dim 0 or 1, end_dim -1) is supported");
            }
        } else if (t == "IF" || t == "LIF") {
            neuron(name, n);
        } else {
            node_fail(name, "unsupported NIR node type (snnkit reads Input, Output, Conv2d, Affine, Linear, AvgPool2d, "
                            "Flatten, IF, LIF, and Scale as spike amplitude)");
        }
        if (t != "Input" && it.preds.empty()) {
            node_fail(name, "has no incoming edge");
        }
        if (it.preds.size() > 1) { // NIR sums the edges into a node: an add node before it
            it.preds = {sum_item(name, it.preds, it.priority)};
        }
        items_[name] = std::move(it);
    }

    void neuron(const std::string & name, node & n) {
        n.op = op_kind::spike;
        const bool lif = types_[name] == "LIF";
        const at::Tensor vth = floats(name, "v_threshold");
        const at::Tensor r = floats(name, "r");
        if (f_.exists(path(name) + "/v_reset") && floats(name, "v_reset").abs().max().item<float>() != 0.0f) {
            node_fail(name, "v_reset must be 0 (snnkit resets to 0 or subtracts V_th)");
        }
        if (f_.exists(meta(name, "snnkit_neuron"))) {
            n.attrs.neuron = neuron_from_json(f_.read_string(meta(name, "snnkit_neuron")), f_.name() + ": node '" + name + "'");
        } else {
            // A plain NIR neuron: hard reset to 0, 0/1 spikes, the leak from tau (Euler step dt).
            n.attrs.neuron.reset = reset_mode::hard;
            n.attrs.neuron.alpha = 1.0;
            if (lif) {
                const at::Tensor tau = floats(name, "tau");
                if (tau.numel() == 0) {
                    node_fail(name, "empty tau");
                }
                const float t0 = tau.flatten()[0].item<float>();
                if (!tau.eq(t0).all().item<bool>() || !(t0 >= dt_)) {
                    node_fail(name, "tau must be one value >= dt per layer (snnkit's leak is per layer)");
                }
                if (floats(name, "v_leak").abs().max().item<float>() != 0.0f) {
                    node_fail(name, "v_leak must be 0");
                }
                n.attrs.neuron.alpha = 1.0 - dt_ / t0;
                // Euler step of tau dv/dt = -v + r I: v += (dt/tau)(-v + r I), an input gain of 1 is r = tau/dt
                if (r.numel() != 1 && r.numel() != tau.numel()) {
                    node_fail(name, "r has " + std::to_string(r.numel()) + " values, tau " + std::to_string(tau.numel()));
                }
                if (!at::allclose(r.flatten(), tau.flatten() / dt_)) {
                    node_fail(name, "r must equal tau/dt (an input gain of 1 per step)");
                }
            } else if (!at::allclose(r, at::full_like(r, 1.0 / dt_))) { // dv/dt = r I: v += dt r I
                node_fail(name, "r must be 1/dt (an input gain of 1 per step)");
            }
        }
        // Spikes of value V_th: a Scale node after the neuron, or the amplitude folded into the next weights.
        n.attrs.neuron.spike_vth = amplitude_.count(name) > 0 || meta_int(name, "snnkit_amplitude_folded", 0) != 0;
        n.buffers["v_th"] = f_.exists(meta(name, "snnkit_v_th")) ? f_.read_floats(meta(name, "snnkit_v_th")) : compact(name, vth);
        const std::string md = path(name) + "/metadata";
        for (const auto & key : f_.is_group(md) ? f_.children(md) : std::vector<std::string>{}) {
            const std::string prefix = "snnkit_buffer.";
            if (key.rfind(prefix, 0) == 0) {
                n.buffers[key.substr(prefix.size())] = f_.read_floats(meta(name, key));
            }
        }
    }

    // Per-neuron thresholds -> one value per layer, or per channel (what snnkit's neurons hold).
    at::Tensor compact(const std::string & name, const at::Tensor & v) const {
        const at::Tensor flat = v.flatten();
        if (flat.numel() == 0) {
            node_fail(name, "empty v_threshold");
        }
        if (flat.eq(flat[0]).all().item<bool>()) {
            return flat[0].clone();
        }
        const at::Tensor per_c = v.reshape({v.size(0), -1});
        if (per_c.eq(per_c.select(1, 0).unsqueeze(1)).all().item<bool>()) {
            return per_c.select(1, 0).contiguous();
        }
        node_fail(name, "thresholds vary within a channel (snnkit holds one per layer or per channel)");
    }

    // Kahn's algorithm, the ready node of lowest priority first: the original order for snnkit's files.
    graph order_items(const std::string & output) {
        std::map<std::string, int> index;
        graph g;
        std::set<std::string> left;
        for (const auto & kv : items_) {
            left.insert(kv.first);
        }
        while (!left.empty()) {
            const item * best = nullptr;
            for (const auto & name : left) {
                const item & it = items_[name];
                bool ready = true;
                for (const auto & p : it.preds) {
                    ready &= index.count(p) > 0;
                }
                if (ready && (best == nullptr || it.priority < best->priority)) {
                    best = &it;
                }
            }
            if (best == nullptr) {
                fail(f_.name(), "the graph has a cycle or an edge from a missing node (recurrent NIR graphs are not supported)");
            }
            node n = best->n;
            for (const auto & p : best->preds) {
                n.inputs.push_back(index.at(p));
            }
            if (n.op == op_kind::input) {
                g.input_shape = ints(n.name, "shape", 0);
                if (!g.nodes.empty()) {
                    fail(f_.name(), "more than one Input node");
                }
            }
            index[n.name] = static_cast<int>(g.nodes.size());
            left.erase(n.name);
            g.nodes.push_back(std::move(n));
        }
        if (g.nodes.empty() || g.nodes[0].op != op_kind::input) {
            fail(f_.name(), "no Input node");
        }
        const auto & p = preds_[output];
        const std::string last = output_sum_.empty() ? (p.size() == 1 ? (merged_.count(p[0]) ? merged_[p[0]] : p[0]) : "")
                                                      : output_sum_;
        if (p.empty() || last != g.nodes.back().name) {
            fail(f_.name(), "the Output node must read exactly the last layer");
        }
        const auto s = ints(output, "shape", 0);
        g.num_classes = s.empty() ? 0 : s.back();
        return g;
    }
};

} // namespace

graph import_nir(const std::string & path, model_meta * meta) {
    const h5_snapshot f = h5_snapshot::load(path);
    try {
        return nir_reader(f).run(meta);
    } catch (const c10::Error & e) { // a tensor operation refused the file's values (shapes, sizes)
        const std::string m = e.what_without_backtrace();
        fail(path, "malformed NIR data: " + m.substr(0, m.find('\n')));
    }
}

} // namespace snnkit
