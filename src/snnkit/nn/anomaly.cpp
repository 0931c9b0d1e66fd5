// snnkit/nn/anomaly.cpp
#include "snnkit/nn/anomaly.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/core/grad_mode.h>

namespace snnkit {

namespace {

bool all_finite(const at::Tensor & t) { return !t.is_floating_point() || t.isfinite().all().item<bool>(); }

} // namespace

std::string first_nonfinite_node(const graph & g, const at::Tensor & x, int64_t T, bool train) {
    if (!all_finite(x)) {
        return "input";
    }
    at::NoGradGuard no_grad;
    std::string found;
    const node_observer look = [&](int, const node & n, const at::Tensor & out) {
        if (found.empty() && !all_finite(out)) {
            found = n.name;
        }
    };
    try {
        if (T == 0) {
            forward_options fo;
            fo.train = train;
            fo.observer = look;
            ann_forward(g, x, fo);
        } else {
            snn_options so;
            so.T = T;
            so.train = train;
            so.observer = look;
            snn_forward(g, x, so);
        }
    } catch (const snnkit::error &) { // a layer after the first NaN refused it (the spike nodes check)
        if (found.empty()) {
            throw;
        }
    }
    return found;
}

std::string first_nonfinite_grad(const graph & g) {
    // One combined check per step (a single host read); the per-parameter search only after a failure. The
    // check is the sum of each gradient, one vectorised pass without a temporary: a NaN or Inf element makes the
    // sum NaN or Inf, so a finite sum proves all elements finite (3.5 ms -> 0.6 ms a step for the zoo cnn's
    // 815 k weights on one thread, against isfinite().all()). A sum that overflows only sends the rare step to
    // the exact search below, which then finds nothing.
    std::vector<at::Tensor> sums;
    const auto params = g.named_params();
    for (const auto & kv : params) {
        const at::Tensor & gr = kv.second.grad();
        if (gr.defined() && gr.is_floating_point()) {
            sums.push_back(gr.sum().to(at::kDouble).reshape({1}));
        }
    }
    if (sums.empty() || at::cat(sums).isfinite().all().item<bool>()) {
        return "";
    }
    for (const auto & kv : params) {
        const at::Tensor & gr = kv.second.grad();
        if (gr.defined() && !all_finite(gr)) {
            return kv.first;
        }
    }
    return "";
}

std::string first_nonfinite_tensor(const graph & g) {
    for (const auto & kv : g.named_tensors()) {
        if (!all_finite(kv.second)) {
            return kv.first;
        }
    }
    return "";
}

} // namespace snnkit
