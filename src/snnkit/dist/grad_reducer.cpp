// snnkit/dist/grad_reducer.cpp
#include "snnkit/dist/grad_reducer.h"

#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"

#include <ATen/core/grad_mode.h>

#include <mutex>

namespace snnkit {

namespace {

struct slot {
    size_t param = 0;   // index into params
    int64_t offset = 0; // in the bucket's flat buffer
};

struct bucket {
    at::Tensor flat;          // the gradients of its parameters, one after another
    std::vector<slot> slots;
    size_t ready = 0;         // gradients copied in during this pass
    std::unique_ptr<pending_collective> pending;
};

} // namespace

struct grad_reducer::impl {
    process_group * pg = nullptr;
    std::vector<at::Tensor> params;
    std::vector<unsigned> hooks;                   // each parameter's hook handle
    std::vector<std::pair<size_t, size_t>> where;  // param -> (bucket, slot)
    std::vector<bool> got;                         // param's gradient copied in this pass
    std::vector<bucket> buckets;
    size_t next_launch = 0;                        // buckets launch in index order on every rank
    bool armed = false;
    double exposed = 0;
    std::mutex mu;

    void launch_ready() {
        while (next_launch < buckets.size() && buckets[next_launch].ready == buckets[next_launch].slots.size()) {
            bucket & b = buckets[next_launch];
            b.pending = pg->all_reduce_sum_async(b.flat, "gradient all-reduce (bucket " +
                                                             std::to_string(next_launch) + ")");
            ++next_launch;
        }
    }

    void on_grad(size_t i, const at::Tensor & g) {
        std::lock_guard<std::mutex> lock(mu);
        if (!armed || got[i]) {
            return;
        }
        const auto [bi, si] = where[i];
        bucket & b = buckets[bi];
        const at::Tensor & p = params[i];
        // averaged as it goes in: the all-reduce sums the ranks' gradient / world_size
        b.flat.narrow(0, b.slots[si].offset, p.numel()).copy_(g.reshape({-1})).div_(pg->world_size());
        got[i] = true;
        ++b.ready;
        launch_ready();
    }
};

grad_reducer::grad_reducer(process_group & pg, std::vector<at::Tensor> params, const grad_reducer_options & o)
    : p_(std::make_unique<impl>()) {
    p_->pg = &pg;
    p_->params = std::move(params);
    p_->where.resize(p_->params.size());
    p_->got.assign(p_->params.size(), false);
    // reverse order: the gradients of the last layers come first in backward
    int64_t bytes = 0;
    at::ScalarType dtype = at::kFloat;
    for (size_t k = p_->params.size(); k-- > 0;) {
        const at::Tensor & p = p_->params[k];
        if (!p.requires_grad() || !p.is_leaf()) {
            fail("grad_reducer", "parameter " + std::to_string(k) + " is not a leaf tensor that requires grad");
        }
        const int64_t nb = p.numel() * static_cast<int64_t>(p.element_size());
        if (p_->buckets.empty() || bytes + nb > o.bucket_bytes || p.scalar_type() != dtype) {
            if (!p_->buckets.empty() && p_->buckets.back().slots.empty()) {
                p_->buckets.pop_back();
            }
            p_->buckets.emplace_back();
            bytes = 0;
            dtype = p.scalar_type();
        }
        bucket & b = p_->buckets.back();
        const int64_t off = b.slots.empty() ? 0 : b.slots.back().offset + p_->params[b.slots.back().param].numel();
        p_->where[k] = {p_->buckets.size() - 1, b.slots.size()};
        b.slots.push_back({k, off});
        bytes += nb;
    }
    for (bucket & b : p_->buckets) {
        int64_t n = 0;
        for (const slot & s : b.slots) {
            n += p_->params[s.param].numel();
        }
        b.flat = at::zeros({n}, p_->params[b.slots.front().param].options().requires_grad(false));
    }
    impl * self = p_.get();
    for (size_t k = 0; k < p_->params.size(); ++k) {
        p_->hooks.push_back(p_->params[k].register_hook([self, k](const at::Tensor & g) { self->on_grad(k, g); }));
    }
}

grad_reducer::~grad_reducer() {
    for (size_t k = 0; k < p_->params.size(); ++k) {
        p_->params[k].remove_hook(p_->hooks[k]);
    }
}

void grad_reducer::arm() {
    std::lock_guard<std::mutex> lock(p_->mu);
    p_->armed = true;
    p_->next_launch = 0;
    std::fill(p_->got.begin(), p_->got.end(), false);
    for (bucket & b : p_->buckets) {
        b.ready = 0;
        b.pending.reset();
    }
}

void grad_reducer::finish() {
    {
        std::lock_guard<std::mutex> lock(p_->mu);
        if (!p_->armed) {
            fail("grad_reducer", "finish() without arm()");
        }
        for (size_t k = 0; k < p_->params.size(); ++k) { // no gradient this pass: zero, as in every rank's sum
            if (!p_->got[k]) {
                const auto [bi, si] = p_->where[k];
                bucket & b = p_->buckets[bi];
                b.flat.narrow(0, b.slots[si].offset, p_->params[k].numel()).zero_();
                p_->got[k] = true;
                ++b.ready;
            }
        }
        p_->launch_ready();
        p_->armed = false;
    }
    const auto t0 = clock_now();
    for (bucket & b : p_->buckets) {
        b.pending->wait();
        b.pending.reset();
    }
    p_->exposed += seconds_since(t0);
    at::NoGradGuard no_grad;
    for (bucket & b : p_->buckets) {
        for (const slot & s : b.slots) {
            at::Tensor & p = p_->params[s.param];
            const at::Tensor avg = b.flat.narrow(0, s.offset, p.numel()).view(p.sizes());
            if (p.grad().defined()) {
                p.mutable_grad().copy_(avg);
            } else {
                p.mutable_grad() = avg.clone();
            }
        }
    }
}

size_t grad_reducer::buckets() const { return p_->buckets.size(); }

double grad_reducer::exposed_seconds() const { return p_->exposed; }

} // namespace snnkit
