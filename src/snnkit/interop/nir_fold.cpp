// snnkit/interop/nir_fold.cpp
#include "snnkit/interop/nir_fold.h"

namespace snnkit {

namespace {

std::vector<std::vector<int>> readers_of(const graph & g) {
    std::vector<std::vector<int>> r(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        for (int j : g.nodes[i].inputs) {
            r[j].push_back(static_cast<int>(i));
        }
    }
    return r;
}

bool passes_amplitude(op_kind op) {
    return op == op_kind::avg_pool || op == op_kind::global_avg_pool || op == op_kind::flatten;
}

// Collects into `layers` the conv2d / linear nodes reached from node i through amplitude-preserving nodes;
// false where a path ends anywhere else (an add, a neuron, the graph output).
bool weight_readers(const graph & g, const std::vector<std::vector<int>> & readers, int i, std::vector<int> & layers) {
    if (i == static_cast<int>(g.nodes.size()) - 1 || readers[i].empty()) {
        return false; // the graph's output (or a dead end) would see the 0/1 spikes
    }
    for (int r : readers[i]) {
        const op_kind op = g.nodes[r].op;
        if (op == op_kind::conv2d || op == op_kind::linear) {
            layers.push_back(r);
        } else if (!passes_amplitude(op) || !weight_readers(g, readers, r, layers)) {
            return false;
        }
    }
    return true;
}

// V_th of `spike` for each input feature of weight layer `layer` ([in] for linear, [in channels] for conv).
at::Tensor input_scale(const graph & g, int layer, int spike, const std::vector<std::vector<int64_t>> & shapes) {
    const node & w = g.nodes[layer];
    const at::Tensor vth = g.nodes[spike].tensor("v_th").detach().to(at::kFloat);
    if (w.op == op_kind::conv2d) {
        return vth.dim() == 0 ? vth.expand({w.attrs.in}) : vth.reshape({-1});
    }
    // linear: the neuron layout of its input before any flatten, then flattened (channel-major, as flatten)
    int x = w.inputs[0];
    while (g.nodes[x].op == op_kind::flatten) {
        x = g.nodes[x].inputs[0];
    }
    return per_neuron(vth, shapes[x]).reshape({-1});
}

} // namespace

at::Tensor per_neuron(const at::Tensor & t, const std::vector<int64_t> & shape) {
    at::Tensor x = t.detach().to(at::kFloat);
    if (x.dim() == 1 && !shape.empty()) {
        std::vector<int64_t> view(shape.size(), 1);
        view[0] = x.size(0);
        x = x.reshape(view);
    }
    return x.expand(shape).contiguous();
}

amplitude_fold_plan plan_amplitude_fold(const graph & g, const std::vector<std::vector<int64_t>> & shapes) {
    amplitude_fold_plan plan;
    const auto readers = readers_of(g);
    for (size_t s = 0; s < g.nodes.size(); ++s) {
        const node & n = g.nodes[s];
        if (n.op != op_kind::spike || !n.attrs.neuron.spike_vth) {
            continue;
        }
        std::vector<int> layers;
        if (!weight_readers(g, readers, static_cast<int>(s), layers)) {
            continue;
        }
        bool fits = true;
        for (int l : layers) {
            const node & w = g.nodes[l];
            const int64_t in = w.tensor("weight").size(1) * (w.op == op_kind::conv2d ? w.attrs.groups : 1);
            fits &= plan.into.count(l) == 0 && input_scale(g, l, static_cast<int>(s), shapes).numel() == in;
        }
        if (fits) {
            for (int l : layers) {
                plan.into[l] = static_cast<int>(s);
            }
            plan.folded.push_back(static_cast<int>(s));
        }
    }
    return plan;
}

at::Tensor amplitude_folded_weight(const graph & g, int layer, int spike, const std::vector<std::vector<int64_t>> & shapes) {
    const node & w = g.nodes[layer];
    const at::Tensor weight = w.tensor("weight");
    const at::Tensor s = input_scale(g, layer, spike, shapes).to(weight.scalar_type());
    if (w.op == op_kind::linear) {
        return (weight * s.reshape({1, -1})).contiguous();
    }
    // conv weight [out, in / groups, kh, kw]: output o of group o / (out / groups) reads input channels
    // group * in / groups + j, j = 0 .. in / groups - 1
    const int64_t groups = w.attrs.groups, out = weight.size(0), in_g = weight.size(1);
    const at::Tensor per_out = s.reshape({groups, in_g}).repeat_interleave(out / groups, 0);
    return (weight * per_out.reshape({out, in_g, 1, 1})).contiguous();
}

at::Tensor dense_conv_weight(const at::Tensor & weight, int64_t groups) {
    const int64_t out = weight.size(0), in_g = weight.size(1), out_g = out / groups;
    at::Tensor dense = at::zeros({out, in_g * groups, weight.size(2), weight.size(3)}, weight.options());
    for (int64_t g = 0; g < groups; ++g) {
        dense.slice(0, g * out_g, (g + 1) * out_g).slice(1, g * in_g, (g + 1) * in_g).copy_(weight.slice(0, g * out_g, (g + 1) * out_g));
    }
    return dense;
}

} // namespace snnkit
