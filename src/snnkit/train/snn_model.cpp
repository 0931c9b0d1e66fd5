// snnkit/train/snn_model.cpp
#include "snnkit/train/snn_model.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/snn_forward.h"

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
        ++spikes;
    }
    if (spikes == 0) {
        fail("architecture '" + ann.arch + "'", "has no ReLU to turn into a spiking neuron");
    }
    g.validate();
    return g;
}

forward_fn snn_forward_fn(const graph & g, int64_t T) {
    return [&g, T](const at::Tensor & x, bool train) {
        snn_options so;
        so.T = T;
        so.train = train;
        return snn_forward(g, x, so).out.mean(0);
    };
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
