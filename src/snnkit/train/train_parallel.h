// snnkit/train/train_parallel.h: what data-parallel training plugs into the training loop (train_loop). The
// trainer stays one-process code with these calls at fixed points; snnkit/dist/data_parallel.h implements them
// on c10d. Every call is a collective: all ranks make the same calls in the same order.
#pragma once

#include "snnkit/nn/graph.h"

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace snnkit {

class train_parallel {
public:
    virtual ~train_parallel() = default;
    /// this process's rank; rank 0 alone writes checkpoints, logs and progress
    virtual int rank() const = 0;
    /// number of processes
    virtual int world_size() const = 0;
    // Fails on every rank, naming the settings and the ranks, when any rank's settings (name, value) differ.
    virtual void check_same(const std::vector<std::pair<std::string, std::string>> & settings) = 0;
    // Rank 0's bytes on every rank.
    virtual std::string broadcast_bytes(const std::string & bytes, const std::string & what) = 0;
    // Rank 0's tensors copied into every rank's (same shapes).
    virtual void broadcast_tensors(const std::vector<at::Tensor> & tensors, const std::string & what) = 0;
    // Element-wise sum over ranks, in place.
    virtual void sum(at::Tensor & t, const std::string & what) = 0;
    // The same sum started without waiting (t must stay alive and untouched); wait_sum() blocks until it is done.
    // One at a time: the trainer sums a step's metrics while backward runs.
    virtual void start_sum(at::Tensor & t, const std::string & what) = 0;
    virtual void wait_sum() = 0;
    // Hooks the gradients of g's parameters (after they were set to require grad).
    virtual void attach(graph & g) = 0;
    // The next backward pass's gradients are to be averaged over ranks.
    virtual void begin_step() = 0;
    // After backward: every parameter's .grad holds the average over ranks.
    virtual void end_step() = 0;
};

} // namespace snnkit
