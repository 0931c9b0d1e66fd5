// snnkit/train/dspike_adapt.cpp
#include "snnkit/train/dspike_adapt.h"

#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"
#include "snnkit/core/rng.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/train/snn_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/autograd.h>

#include <map>
#include <cmath>

namespace snnkit {

namespace {

// Cross-entropy (label smoothing ls) per copy: logits [P*B, C] of P stacked copies of a batch with labels
// y [B] -> [P] (double).
at::Tensor per_copy_loss(const at::Tensor & logits, const at::Tensor & y, int64_t P, double ls) {
    const int64_t B = y.size(0);
    const at::Tensor l =
        at::cross_entropy_loss(logits.to(at::kDouble), y.repeat({P}), {}, at::Reduction::None, -100, ls);
    return l.view({P, B}).mean(1);
}

// The first layer's output for each weight of the stack, the copies stacked along N: [P*B, ...].
at::Tensor stacked_first_layer(const node & n, const at::Tensor & x, const at::Tensor & w_stack) {
    const int64_t P = w_stack.size(0), B = x.size(0);
    const at::Tensor bias = n.tensor("bias");
    if (n.op == op_kind::linear) {
        at::Tensor y = at::matmul(x.reshape({B, -1}).unsqueeze(0), w_stack.transpose(1, 2)); // [P, B, out]
        if (bias.defined()) {
            y = y + bias;
        }
        return y.reshape({P * B, -1});
    }
    const auto & a = n.attrs;
    const int64_t out = w_stack.size(1);
    // One conv whose P*out output channels are the P copies' channels (groups keep their own inputs).
    at::Tensor w = w_stack.reshape({P * out, w_stack.size(2), w_stack.size(3), w_stack.size(4)});
    at::Tensor y;
    if (a.groups == 1) {
        y = at::conv2d(x, w, bias.defined() ? bias.repeat({P}) : at::Tensor(), a.stride, a.padding, a.dilation, 1);
    } else {
        std::vector<at::Tensor> parts;
        for (int64_t p = 0; p < P; ++p) {
            parts.push_back(at::conv2d(x, w_stack[p], bias, a.stride, a.padding, a.dilation, a.groups));
        }
        y = at::cat(parts, 1);
    }
    const int64_t H = y.size(2), W = y.size(3);
    return y.view({B, P, out, H, W}).transpose(0, 1).reshape({P * B, out, H, W});
}

} // namespace

std::string dspike_epoch_report::to_json() const {
    nlohmann::json j = {{"b", b},
                        {"candidates", candidates},
                        {"cosine", cosine},
                        {"coords", coords},
                        {"fdg_seconds", fdg_seconds},
                        {"bptt_seconds", bptt_seconds}};
    return j.dump();
}

at::Tensor finite_difference_gradient(const batched_loss_fn & loss, const at::Tensor & w, const at::Tensor & coords,
                                      double eps, int64_t copies) {
    if (!(eps > 0)) {
        fail("--eps", "the finite-difference step must be positive");
    }
    at::NoGradGuard no_grad;
    const at::Tensor base = w.detach().contiguous();
    const at::Tensor idx = coords.to(at::kLong).contiguous();
    const int64_t K = idx.numel();
    const int64_t chunk = std::max<int64_t>(2, copies - copies % 2); // each coordinate needs a + and a - copy
    at::Tensor plus = at::empty({K}, at::kDouble), minus = at::empty({K}, at::kDouble);
    for (int64_t s = 0; s < K; s += chunk / 2) {
        const int64_t e = std::min(K, s + chunk / 2), k = e - s;
        // rows 0..k-1: w + eps e_i; rows k..2k-1: w - eps e_i
        at::Tensor stack = base.reshape({1, -1}).repeat({2 * k, 1});
        const at::Tensor rows = at::arange(k, at::kLong);
        const at::Tensor cols = idx.slice(0, s, e);
        stack.index_put_({rows, cols}, stack.index({rows, cols}) + eps);
        stack.index_put_({rows + k, cols}, stack.index({rows + k, cols}) - eps);
        std::vector<int64_t> shape{2 * k};
        shape.insert(shape.end(), base.sizes().begin(), base.sizes().end());
        const at::Tensor l = loss(stack.view(shape)).to(at::kDouble);
        if (l.numel() != 2 * k) {
            fail("finite differences", "the loss function returned " + std::to_string(l.numel()) + " values for " +
                                           std::to_string(2 * k) + " weights");
        }
        plus.slice(0, s, e).copy_(l.slice(0, 0, k));
        minus.slice(0, s, e).copy_(l.slice(0, k, 2 * k));
    }
    return (plus - minus) / (2.0 * eps);
}

double gradient_cosine(const at::Tensor & a, const at::Tensor & b) {
    const at::Tensor x = a.detach().to(at::kDouble).reshape({-1}), y = b.detach().to(at::kDouble).reshape({-1});
    const double nx = x.norm().item<double>(), ny = y.norm().item<double>();
    if (nx == 0 || ny == 0) {
        return 0.0;
    }
    return (x * y).sum().item<double>() / (nx * ny);
}

int dspike_choose(const std::array<double, 3> & cosine) {
    int best = 1;
    for (int k : {0, 2}) {
        if (!std::isnan(cosine[k]) && (std::isnan(cosine[best]) || cosine[k] > cosine[best])) {
            best = k;
        }
    }
    return best;
}

at::Tensor dspike_coords(int64_t numel, const dspike_adapt_options & opt, int epoch) {
    const int64_t want = opt.coords > 0 ? opt.coords : 1024;
    if (want >= numel) {
        return at::arange(numel, at::kLong);
    }
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(opt.seed, 0xfd6, epoch));
    return std::get<0>(at::randperm(numel, gen, at::kLong).slice(0, 0, want).sort());
}

at::Tensor snn_loss_for_weights(const graph & g, int64_t T, int layer, const at::Tensor & x, const at::Tensor & y,
                                const at::Tensor & w_stack, double ls, bool batch_stats) {
    at::NoGradGuard no_grad;
    const node & n = g.nodes[layer];
    const int64_t P = w_stack.size(0);
    snn_options so;
    so.T = T;
    so.train = batch_stats;
    // stacked copies would share BatchNorm statistics in training mode
    const bool stackable = !batch_stats && n.inputs.size() == 1 && n.inputs[0] == 0 && g.consumer_counts()[0] == 1;
    if (stackable) { // all copies in one forward
        // the rest of the network starts from the stacked first-layer outputs (a static value)
        const std::map<int, snn_node_value> given{{layer, {stacked_first_layer(n, x, w_stack), false}}};
        so.first = layer + 1;
        so.resume = &given;
        return per_copy_loss(snn_forward(g, x, so).out.mean(0), y, P, ls);
    }
    // General graphs: one forward per copy, the weight swapped in place and restored.
    at::Tensor w = n.params.at("weight");
    const at::Tensor saved = w.detach().clone();
    at::Tensor out = at::empty({P}, at::kDouble);
    for (int64_t p = 0; p < P; ++p) {
        w.detach().copy_(w_stack[p]);
        out[p] = per_copy_loss(snn_forward(g, x, so).out.mean(0), y, 1, ls)[0];
    }
    w.detach().copy_(saved);
    return out;
}

graph dspike_frozen_copy(const graph & g, int64_t T, const at::Tensor & x, bool batch_stats) {
    graph c = g.clone();
    for (auto & n : c.nodes) {
        if (n.op == op_kind::dropout) {
            n.attrs.p = 0.0;
        }
    }
    if (batch_stats) {
        return c;
    }
    std::map<int, std::pair<at::Tensor, at::Tensor>> stats; // BN node -> (mean, biased var) of its input
    std::vector<std::vector<int>> bn_of(c.nodes.size()); // node -> the BatchNorms that read it
    for (size_t i = 0; i < c.nodes.size(); ++i) {
        if (c.nodes[i].op == op_kind::batch_norm) {
            bn_of[c.nodes[i].inputs[0]].push_back(static_cast<int>(i));
        }
    }
    at::NoGradGuard no_grad;
    snn_options so;
    so.T = T;
    so.train = true;
    so.observer = [&](int i, const node &, const at::Tensor & v) { // v: [T, N, C, ...]
        if (bn_of[i].empty()) {
            return;
        }
        std::vector<int64_t> dims{0, 1};
        for (int64_t d = 3; d < v.dim(); ++d) {
            dims.push_back(d);
        }
        const std::pair<at::Tensor, at::Tensor> mv{v.mean(dims), v.var(dims, /*unbiased=*/false)};
        for (int b : bn_of[i]) {
            stats[b] = mv;
        }
    };
    snn_forward(c, x, so);
    for (auto & kv : stats) {
        node & n = c.nodes[kv.first];
        n.buffers["running_mean"] = kv.second.first.contiguous();
        n.buffers["running_var"] = kv.second.second.contiguous();
    }
    return c;
}

at::Tensor dspike_fdg(const graph & c, int64_t T, const at::Tensor & x, const at::Tensor & y,
                      const at::Tensor & coords, const dspike_adapt_options & opt) {
    const int layer = first_weight_layer(c);
    const at::Tensor w = c.nodes[layer].params.at("weight").detach();
    return finite_difference_gradient(
        [&](const at::Tensor & ws) {
            return snn_loss_for_weights(c, T, layer, x, y, ws, opt.label_smoothing, opt.bn_batch_stats);
        },
        w, coords, opt.eps, opt.copies);
}

at::Tensor dspike_bptt_grad(graph & c, int64_t T, const at::Tensor & x, const at::Tensor & y, double b,
                            const dspike_adapt_options & opt) {
    const int layer = first_weight_layer(c);
    at::Tensor & slot = c.nodes[layer].params.at("weight");
    const at::Tensor saved = slot;
    const at::Tensor w = saved.detach().requires_grad_(true);
    slot = w;
    set_surrogate_param(c, b);
    snn_options so;
    so.T = T;
    so.train = opt.bn_batch_stats;
    at::AutoGradMode grad_on(true);
    const at::Tensor logits = snn_forward(c, x, so).out.mean(0);
    const at::Tensor loss = at::cross_entropy_loss(logits, y, {}, at::Reduction::Mean, -100, opt.label_smoothing);
    const at::Tensor grad = torch::autograd::grad({loss}, {w})[0].reshape({-1});
    slot = saved;
    return grad;
}

dspike_epoch_report dspike_adapt(graph & g, int64_t T, const at::Tensor & x, const at::Tensor & y, double b,
                                 const dspike_adapt_options & opt, int epoch) {
    for (const auto & n : g.nodes) {
        if (n.op == op_kind::spike && n.attrs.neuron.surrogate.kind != surrogate_kind::dspike) {
            fail("layer '" + n.name + "'", "Dspike adaptation needs the dspike surrogate on every spiking layer");
        }
    }
    if (!(opt.db > 0)) {
        fail("--db", "the temperature step must be positive");
    }
    const local_batch_norm local; // every rank probes the same batch alone (no --sync-bn collectives)
    graph c = dspike_frozen_copy(g, T, x, opt.bn_batch_stats);
    dspike_epoch_report r;
    r.epoch = epoch;
    r.candidates = {std::max(opt.b_min, b - opt.db), b, b + opt.db};

    auto t0 = clock_now();
    const at::Tensor coords = dspike_coords(c.nodes[first_weight_layer(c)].params.at("weight").numel(), opt, epoch);
    r.coords = coords.numel();
    at::Tensor fdg;
    if (opt.shard_count > 1) { // this rank's coordinates; the others' come from sum_shards
        if (!opt.sum_shards || opt.shard_rank < 0 || opt.shard_rank >= opt.shard_count) {
            fail("dspike_adapt", "shard_count > 1 needs a shard_rank in [0, shard_count) and sum_shards");
        }
        const at::Tensor mine = at::arange(opt.shard_rank, coords.numel(), opt.shard_count, at::kLong);
        fdg = at::zeros({coords.numel()}, at::kDouble);
        if (mine.numel() > 0) {
            fdg.index_copy_(0, mine, dspike_fdg(c, T, x, y, coords.index_select(0, mine), opt));
        }
        opt.sum_shards(fdg);
    } else {
        fdg = dspike_fdg(c, T, x, y, coords, opt);
    }
    r.fdg_seconds = seconds_since(t0);

    t0 = clock_now();
    for (int k = 0; k < 3; ++k) {
        const at::Tensor grad = dspike_bptt_grad(c, T, x, y, r.candidates[k], opt);
        r.cosine[k] = gradient_cosine(grad.index_select(0, coords), fdg);
    }
    r.bptt_seconds = seconds_since(t0);
    r.b = r.candidates[dspike_choose(r.cosine)];
    set_surrogate_param(g, r.b);
    return r;
}

} // namespace snnkit
