// snnkit/dist/grad_reducer.cpp
#include "snnkit/dist/grad_reducer.h"

#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

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
    size_t ready = 0;         // gradients accumulated (or zeroed) in its slots this pass
    std::unique_ptr<pending_collective> pending;
};

} // namespace

struct grad_reducer::impl {
    process_group * pg = nullptr;
    std::vector<at::Tensor> params;
    // each parameter's gradient accumulator (autograd keeps only a weak reference: held here so that the hook
    // stays on the node every backward uses) and its post-hook's key
    std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
    std::vector<uintptr_t> hooks;
    std::vector<std::pair<size_t, size_t>> where;  // param -> (bucket, slot)
    std::vector<bool> got;                         // param's gradient accumulated (or zeroed) this pass
    std::vector<bucket> buckets;
    size_t next_launch = 0;                        // buckets launch in index order on every rank
    bool armed = false;
    double exposed = 0;
    std::mutex mu;

    // Starts the all-reduce of every bucket whose gradients are all in, in index order. Its time counts as
    // exposed: starting a pair exchange may write the bucket to the socket on this (the training) thread.
    void launch_ready() {
        const auto t0 = clock_now();
        while (next_launch < buckets.size() && buckets[next_launch].ready == buckets[next_launch].slots.size()) {
            bucket & b = buckets[next_launch];
            b.pending = pg->all_reduce_sum_async(b.flat, "gradient all-reduce (bucket " +
                                                             std::to_string(next_launch) + ")");
            ++next_launch;
        }
        exposed += seconds_since(t0);
    }

    // The slot of parameter i in its bucket, shaped like the parameter.
    at::Tensor slot_view(size_t i) {
        const auto [bi, si] = where[i];
        const at::Tensor & p = params[i];
        return buckets[bi].flat.narrow(0, buckets[bi].slots[si].offset, p.numel()).view(p.sizes());
    }

    // Points parameter i's .grad at its slot (keeping the gradient it holds), so that autograd accumulates
    // straight into the bucket (PyTorch DDP's gradient_as_bucket_view): no copy in, no copy out.
    void bind(size_t i) {
        at::Tensor & p = params[i];
        at::Tensor v = slot_view(i);
        if (p.grad().defined() && !p.grad().is_same(v)) {
            at::NoGradGuard no_grad;
            v.copy_(p.grad());
        }
        p.mutable_grad() = v;
    }

    // After autograd accumulated parameter i's gradient of this pass (into its .grad, normally the slot).
    void on_accumulated(size_t i) {
        std::lock_guard<std::mutex> lock(mu);
        if (!armed || got[i]) {
            return;
        }
        at::NoGradGuard no_grad;
        const at::Tensor & g = params[i].grad();
        if (!g.defined() || g.data_ptr() != slot_view(i).data_ptr()) { // someone replaced .grad: take it in again
            bind(i);
        }
        // averaged as it goes in (while it is hot in cache): the all-reduce sums the ranks' gradient / world_size
        params[i].grad().div_(pg->world_size());
        got[i] = true;
        ++buckets[where[i].first].ready;
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
        p_->bind(k);
        auto acc = torch::autograd::impl::grad_accumulator(p_->params[k]);
        p_->hooks.push_back(acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
            [self, k](const torch::autograd::variable_list & outputs, const torch::autograd::variable_list &) {
                self->on_accumulated(k);
                return outputs;
            })));
        p_->accumulators.push_back(std::move(acc));
    }
}

grad_reducer::~grad_reducer() {
    for (size_t k = 0; k < p_->accumulators.size(); ++k) {
        p_->accumulators[k]->del_post_hook(p_->hooks[k]);
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
        at::NoGradGuard no_grad;
        for (size_t k = 0; k < p_->params.size(); ++k) { // no gradient this pass: zero, as in every rank's sum
            if (!p_->got[k]) {
                p_->bind(k);
                p_->params[k].mutable_grad().zero_();
                p_->got[k] = true;
                ++p_->buckets[p_->where[k].first].ready;
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
    // every .grad is its slot (bound in on_accumulated or above), which now holds the average over ranks
}

size_t grad_reducer::buckets() const { return p_->buckets.size(); }

double grad_reducer::exposed_seconds() const { return p_->exposed; }

} // namespace snnkit
