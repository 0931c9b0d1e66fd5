// snnkit/nn/snn_chunk.cpp
#include "snnkit/nn/snn_chunk.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace snnkit {

namespace {

struct profile_key {
    const graph * g = nullptr;
    size_t nodes = 0;
    const void * first_param = nullptr;
    std::vector<int64_t> input_shape;
    bool operator==(const profile_key & o) const {
        return g == o.g && nodes == o.nodes && first_param == o.first_param && input_shape == o.input_shape;
    }
};

profile_key key_of(const graph & g) {
    profile_key k;
    k.g = &g;
    k.nodes = g.nodes.size();
    for (const node & n : g.nodes) {
        for (const auto & kv : n.params) {
            if (kv.second.defined()) {
                k.first_param = kv.second.storage().data();
                break;
            }
        }
        if (k.first_param != nullptr) {
            break;
        }
    }
    k.input_shape = g.input_shape;
    return k;
}

snn_profile measure(const graph & g) {
    at::NoGradGuard ng;
    std::vector<int64_t> shape{1};
    shape.insert(shape.end(), g.input_shape.begin(), g.input_shape.end());
    snn_profile p;
    snn_options so;
    so.T = 1;
    so.observer = [&](int, const node & n, const at::Tensor & out) { // out: [1, 1, ...]
        const int64_t bytes = out.numel() * static_cast<int64_t>(out.element_size());
        p.largest_bytes = std::max(p.largest_bytes, bytes);
        p.activation_bytes += bytes;
        const at::Tensor w = n.op == op_kind::conv2d || n.op == op_kind::linear ? n.tensor("weight") : at::Tensor();
        if (w.defined() && w.dim() >= 2) {
            p.macs += out.numel() * (w.numel() / w.size(0));
        }
    };
    snn_forward(g, at::zeros(shape), so);
    return p;
}

} // namespace

snn_profile snn_profile_of(const graph & g) {
    static std::mutex mu;
    static std::vector<std::pair<profile_key, snn_profile>> known; // a few graphs per process
    const profile_key k = key_of(g);
    {
        std::lock_guard<std::mutex> lock(mu);
        for (const auto & e : known) {
            if (e.first == k) {
                return e.second;
            }
        }
    }
    const snn_profile p = measure(g);
    std::lock_guard<std::mutex> lock(mu);
    if (known.size() >= 16) {
        known.erase(known.begin());
    }
    known.emplace_back(k, p);
    return p;
}

int64_t snn_chunk_images(const snn_profile & p, int64_t T, int64_t n, int64_t workers) {
    if (T < 1 || n < 1) {
        fail("snn_chunk_images", "T and the batch must be positive");
    }
    const double intensity = static_cast<double>(p.macs) / static_cast<double>(std::max<int64_t>(1, p.activation_bytes));
    if (intensity >= snn_chunk_max_intensity || p.largest_bytes <= 0) {
        return n;
    }
    // side by side, the workers' groups share the cache: each aims at its share of the target, and every worker
    // gets a group where the batch has that many images
    const int64_t w = std::max<int64_t>(1, workers);
    int64_t per = std::clamp<int64_t>(snn_chunk_target_bytes / w / (p.largest_bytes * T), 1, n);
    per = std::min(per, std::max<int64_t>(1, (n + w - 1) / w));
    const int64_t groups = (n + per - 1) / per;
    return (n + groups - 1) / groups;
}

} // namespace snnkit
