// snnkit/nn/act_stats.cpp
#include "snnkit/nn/act_stats.h"

#include "snnkit/core/error.h"
#include "snnkit/core/rng.h"
#include "snnkit/nn/forward.h"

#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>

namespace snnkit {

namespace {

// k-th largest fraction q of a flat tensor (q in (0, 1]), via kthvalue (no full sort).
at::Tensor percentile(const at::Tensor & flat, double q) {
    const int64_t n = flat.numel();
    int64_t k = static_cast<int64_t>(std::ceil(q * static_cast<double>(n)));
    k = std::max<int64_t>(1, std::min(k, n));
    return std::get<0>(at::kthvalue(flat, k));
}

} // namespace

int record_activation_stats(graph & g, const at::Tensor & x, const act_stats_options & opt) {
    at::NoGradGuard no_grad;
    const int64_t n = x.size(0);
    if (n == 0) {
        fail("activation statistics", "no samples");
    }
    std::vector<int> layers;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (is_ann_activation(g.nodes[i].op)) {
            layers.push_back(static_cast<int>(i));
        }
    }
    std::map<int, std::vector<at::Tensor>> kept;
    std::map<int, at::Tensor> maxes, ch_max;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(opt.seed, 0x57a7));
    forward_options fo;
    fo.observer = [&](int i, const node & nd, const at::Tensor & out) {
        if (!is_ann_activation(nd.op)) {
            return;
        }
        const at::Tensor o = out.detach();
        const at::Tensor cm = o.dim() >= 2 ? o.transpose(0, 1).reshape({o.size(1), -1}).amax(1) : o.amax();
        ch_max[i] = ch_max.count(i) ? at::maximum(ch_max[i], cm) : cm;
        const at::Tensor flat = o.reshape({-1});
        const int64_t per_sample = flat.numel() / std::max<int64_t>(1, o.size(0));
        const double frac = std::min(1.0, static_cast<double>(opt.max_values) / (double(per_sample) * double(n)));
        if (frac >= 1.0) {
            kept[i].push_back(flat.clone());
        } else {
            const int64_t take = std::max<int64_t>(1, static_cast<int64_t>(frac * double(flat.numel())));
            kept[i].push_back(flat.index_select(0, at::randint(flat.numel(), {take}, gen, at::kLong)));
        }
    };
    for (int64_t s = 0; s < n; s += opt.batch_size) {
        ann_forward(g, x.slice(0, s, std::min(n, s + opt.batch_size)), fo);
    }
    for (int i : layers) {
        node & nd = g.nodes[i];
        const at::Tensor all = at::cat(kept[i]);
        nd.buffers["act_max"] = ch_max[i].amax().reshape({}).contiguous();
        nd.buffers["act_p99_9"] = percentile(all, 0.999).reshape({}).contiguous();
        nd.buffers["act_p99_99"] = percentile(all, 0.9999).reshape({}).contiguous();
        nd.buffers["act_channel_max"] = ch_max[i].reshape({-1}).contiguous();
    }
    return static_cast<int>(layers.size());
}

} // namespace snnkit
