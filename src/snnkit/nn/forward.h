// snnkit/nn/forward.h: the ANN executor (and the per-op kernels the SNN executor shares).
#pragma once

#include "snnkit/nn/graph.h"

#include <functional>

namespace snnkit {

// Called with every node's output as it is computed (statistics, calibration, firing rates).
using node_observer = std::function<void(int index, const node & n, const at::Tensor & out)>;

struct forward_options {
    /// training mode: batch statistics in BatchNorm (running stats updated), dropout active
    bool train = false;
    /// sees every node's output (may be empty)
    node_observer observer;
    /// return the output of this node instead of the last one (-1 = last); later nodes are not run
    int stop_at = -1;
    /// training: the random source of dropout masks (undefined: ATen's global generator)
    at::Generator dropout_generator;
};

// Runs graph g as an ANN on x [N, ...input_shape] and returns the output node's tensor.
// Autograd records the ops when the params require grad. Spike nodes are refused (use snn_forward).
at::Tensor ann_forward(const graph & g, const at::Tensor & x, const forward_options & opt = {});

// The layout a convolution's input and output [N, C, H, W] are given without gradients (inference: eval,
// calibration's simulations, statistics): channels last from this many positions (H * W) up, contiguous below.
// oneDNN's float convolution here (2 threads, forward, against the contiguous layout): 1.4x at 16 x 16 with
// 64 -> 128 channels, 1.9x at 32 x 32 from 3 channels, equal at 8 x 8 with 256, 0.6x at 4 x 4 and 0.25-0.3x at
// 2 x 2 with 512. The element-wise ops, BatchNorm and pools after it keep the layout. Training stays contiguous:
// ATen 1.13's channels-last BatchNorm sums its batch statistics less exactly (3e-6 relative over 64 x 16 x 28 x
// 28 against the contiguous kernel's), which puts 2-rank --sync-bn training (statistics summed in double) 5e-5
// away from 1 process after 3 steps, beyond the 1e-5 that the data-parallel equivalence test holds it to.
constexpr int64_t conv_channels_last_min_positions = 144;
at::Tensor conv_layout(const at::Tensor & x);

// One stateless op on a batch (for the SNN executor, with time folded into the batch dimension).
// Not for input and spike nodes. dropout_gen: the random source of a training dropout (undefined: ATen's
// global generator).
at::Tensor apply_op(const node & n, const std::vector<at::Tensor> & in, bool train,
                    const at::Generator & dropout_gen = at::Generator());

// Data-parallel --sync-bn: when set, every training-mode BatchNorm of apply_op (ANN and SNN forward) calls
// this instead of at::batch_norm (snnkit/dist/sync_batch_norm.h: statistics over all ranks). Process-wide;
// an empty function restores at::batch_norm.
using batch_norm_override = std::function<at::Tensor(const node & n, const at::Tensor & x)>;
void set_batch_norm_override(batch_norm_override f);

// For its lifetime apply_op's BatchNorm uses this rank's own statistics even under --sync-bn (a computation that
// each rank makes alone, e.g. Dspike's FDG probe); the override is restored at the end.
class local_batch_norm {
public:
    local_batch_norm();
    ~local_batch_norm();
    local_batch_norm(const local_batch_norm &) = delete;
    local_batch_norm & operator=(const local_batch_norm &) = delete;

private:
    batch_norm_override saved_;
};

// Inverted dropout: each value is zeroed with probability p and the rest scaled by 1 / (1 - p); the mask is
// drawn from gen (undefined: ATen's global generator; the same draws as at::dropout for the same seed).
at::Tensor dropout_inverted(const at::Tensor & x, double p, const at::Generator & gen);

} // namespace snnkit
