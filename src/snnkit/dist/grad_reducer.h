// snnkit/dist/grad_reducer.h: gradient averaging over ranks by bucketed all-reduce, overlapped with backward.
// The parameters are laid into buckets in reverse order (the last layer's gradient is ready first). Each
// parameter's .grad is a view of its slot in a bucket (DDP's gradient_as_bucket_view), so autograd accumulates
// into the bucket itself; a post-hook on the parameter's gradient accumulator divides the slot by the world size,
// and a full bucket's all-reduce starts at once, in bucket order on every rank (as PyTorch DDP's Reducer, which
// Debian's headers do not expose), while backward goes on with the layers below. finish() waits for the rest;
// the .grad fields then hold the averages. Zero gradients in place (optimizer::zero_grad) to keep the views; a
// .grad replaced by another tensor is copied back into its slot when its gradient arrives.
#pragma once

#include "snnkit/dist/process_group.h"

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

namespace snnkit {

struct grad_reducer_options {
    /// bytes of gradient per bucket (DDP: 25 MiB; on CPU, 256 KiB overlapped best for resnet20-he here)
    int64_t bucket_bytes = 256 << 10;
};

class grad_reducer {
public:
    // Hooks every tensor of `params` (each requires_grad) and points its .grad at its bucket slot (keeping the
    // values a .grad held); their gradients are averaged over pg's ranks in the backward passes between arm() and
    // finish(). Backward passes outside those (e.g. a probe's own) accumulate into .grad as usual.
    grad_reducer(process_group & pg, std::vector<at::Tensor> params, const grad_reducer_options & o = {});
    ~grad_reducer();
    grad_reducer(const grad_reducer &) = delete;
    grad_reducer & operator=(const grad_reducer &) = delete;

    // The next backward pass's gradients are to be averaged.
    void arm();
    // Starts the buckets still waiting (parameters that got no gradient count as zero), waits for every
    // all-reduce: each parameter's .grad then holds the average over ranks.
    void finish();

    /// number of buckets
    size_t buckets() const;
    /// seconds finish() spent waiting for all-reduces to complete (communication not hidden behind backward),
    /// summed over calls
    double exposed_seconds() const;

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

} // namespace snnkit
