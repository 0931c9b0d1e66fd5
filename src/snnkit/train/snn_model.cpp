// snnkit/train/snn_model.cpp
#include "snnkit/train/snn_model.h"

#include "snnkit/core/error.h"
#include "snnkit/core/shape_text.h"
#include "snnkit/nn/snn_forward.h"

#include <map>

namespace snnkit {

graph snn_from_ann(const graph & ann, const snn_model_options & opt) {
    if (opt.T < 1) {
        fail("--T", "must be at least 1, got " + std::to_string(opt.T));
    }
    if (!(opt.v_th > 0)) {
        fail("--vth", "the threshold must be positive");
    }
    if (!(opt.neuron.alpha > 0 && opt.neuron.alpha <= 1)) {
        fail("--alpha", "the leak factor must be in (0, 1]");
    }
    graph g = ann.clone();
    int spikes = 0;
    for (auto & n : g.nodes) {
        if (n.op != op_kind::relu && n.op != op_kind::clip_relu) {
            continue;
        }
        n.op = op_kind::spike;
        n.attrs.neuron = opt.neuron;
        n.attrs.neuron.spike_vth = false;
        n.buffers.clear();
        n.buffers["v_th"] = at::full({}, opt.v_th, at::kFloat);
        if (opt.learn_alpha) {
            n.params["alpha"] = at::full({}, opt.neuron.alpha, at::kFloat);
        }
        ++spikes;
    }
    if (spikes == 0) {
        fail("architecture '" + ann.arch + "'", "has no ReLU to turn into a spiking neuron");
    }
    g.validate();
    return g;
}

void snn_init_from(graph & snn, const graph & src, const std::string & where) {
    std::map<std::string, int> by_name;
    for (size_t i = 0; i < src.nodes.size(); ++i) {
        by_name[src.nodes[i].name] = static_cast<int>(i);
    }
    for (auto & n : snn.nodes) {
        if (n.params.empty()) {
            continue;
        }
        auto it = by_name.find(n.name);
        if (it == by_name.end()) {
            fail(where, "has no layer '" + n.name + "' (was it trained with the same --arch?)");
        }
        const node & s = src.nodes[it->second];
        const auto keeps_start = [&](const std::string & key) { // a learnable alpha the source (an ANN) lacks
            return n.op == op_kind::spike && key == "alpha" && s.params.count(key) == 0;
        };
        for (auto & kv : n.params) {
            if (keeps_start(kv.first)) {
                continue;
            }
            auto p = s.params.find(kv.first);
            if (p == s.params.end() || !p->second.sizes().equals(kv.second.sizes())) {
                fail(where, "layer '" + n.name + "': " + kv.first + " " +
                                (p == s.params.end() ? "is missing" : "has shape " + shape_text(p->second.sizes())) +
                                ", the SNN's is " + shape_text(kv.second.sizes()));
            }
        }
        for (auto & kv : n.params) {
            if (!keeps_start(kv.first)) {
                kv.second = s.params.at(kv.first).detach().clone();
            }
        }
        for (auto & kv : n.buffers) {
            auto b = s.buffers.find(kv.first);
            if (b != s.buffers.end() && b->second.sizes().equals(kv.second.sizes())) {
                kv.second = b->second.detach().clone();
            }
        }
    }
}

forward_fn snn_forward_fn(const graph & g, int64_t T, bool dropout_shared) {
    return [&g, T, dropout_shared](const at::Tensor & x, bool train, const at::Generator & dropout) {
        snn_options so;
        so.T = T;
        so.train = train;
        so.dropout_generator = dropout;
        so.dropout_shared = dropout_shared;
        return snn_forward(g, x, so).out.mean(0);
    };
}

std::vector<std::pair<std::string, double>> sync_learned_alpha(graph & g) {
    std::vector<std::pair<std::string, double>> r;
    for (auto & n : g.nodes) {
        const at::Tensor a = n.op == op_kind::spike ? n.tensor("alpha") : at::Tensor();
        if (a.defined()) {
            n.attrs.neuron.alpha = a.detach().to(at::kDouble).item<double>();
            r.emplace_back(n.name, n.attrs.neuron.alpha);
        }
    }
    return r;
}

void set_surrogate_param(graph & g, double param) {
    for (auto & n : g.nodes) {
        if (n.op == op_kind::spike) {
            n.attrs.neuron.surrogate.param = param;
        }
    }
}

int first_weight_layer(const graph & g) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (g.nodes[i].op == op_kind::conv2d || g.nodes[i].op == op_kind::linear) {
            return static_cast<int>(i);
        }
    }
    fail("model", "has no conv or linear layer");
}

} // namespace snnkit
