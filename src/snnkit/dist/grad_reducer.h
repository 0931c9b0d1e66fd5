// snnkit/dist/grad_reducer.h: gradient averaging over ranks by bucketed all-reduce, overlapped with backward.
// The parameters are laid into buckets in reverse order (the last layer's gradient is ready first); an autograd
// hook on each parameter copies its gradient into its bucket, and a full bucket's all-reduce starts at once, in
// bucket order on every rank (as PyTorch DDP's Reducer, which Debian's headers do not expose), while backward
// goes on with the layers below. finish() waits for the rest and writes the averages into the .grad fields.
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
    // Hooks every tensor of `params` (each requires_grad); their gradients are averaged over pg's ranks in the
    // backward passes between arm() and finish(). Hooks outside those (e.g. a probe's own backward) do nothing.
    grad_reducer(process_group & pg, std::vector<at::Tensor> params, const grad_reducer_options & o = {});
    ~grad_reducer();
    grad_reducer(const grad_reducer &) = delete;
    grad_reducer & operator=(const grad_reducer &) = delete;

    // The next backward pass's gradients are to be averaged.
    void arm();
    // Starts the buckets still waiting (parameters that got no gradient count as zero), waits for every
    // all-reduce and sets each parameter's .grad to the average over ranks.
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
