// snnkit/nn/qcfs.h: the quantization clip-floor-shift activation (Bu et al., "Optimal ANN-SNN conversion
// for high-accuracy and ultra-low-latency spiking neural networks", ICLR 2022).
//
//     qcfs(z) = lambda * clip(floor(z * L / lambda + 1/2) / L, 0, 1)
//             = lambda / L * clamp(floor(z * L / lambda + 1/2), 0, L)
//
// with L quantisation levels and a trainable per-layer threshold lambda. This is exactly the rate of an IF
// neuron (soft reset, threshold lambda, v(0) = lambda / 2) driven by a constant input z for T = L steps,
// i.e. clipfloor(z, L, lambda, 1/2) of snnkit/convert/clipfloor.h, so an ANN trained with it converts with
// V_th = lambda, v(0) = V_th / 2 and soft reset.
//
// Backward (the paper's rule), with k = floor(z * L / lambda + 1/2) and q = clamp(k, 0, L) / L:
//   d qcfs / d z      = 1 where 0 <= k <= L, else 0             (straight-through estimator for the floor)
//   d qcfs / d lambda = q - z / lambda where 0 <= k <= L, 1 where k > L, 0 where k < 0
#pragma once

#include "snnkit/nn/graph.h"

#include <ATen/ATen.h>

namespace snnkit {

// The activation with the gradients above (an autograd node when z or lambda require grad).
// lambda: a positive 0-d tensor; levels >= 1.
at::Tensor qcfs_activation(const at::Tensor & z, const at::Tensor & lambda, int64_t levels);

struct qcfs_init_options {
    /// quantisation levels L of every QCFS layer
    int64_t levels = 4;
    /// lambda starts at this quantile of the layer's activation values on the statistics batch
    double quantile = 0.999;
};

// Turns every relu / clip_relu of g into a QCFS activation with opt.levels levels and sets its lambda from
// activation statistics: the opt.quantile quantile (zeros included) of the layer's own activation (the ReLU
// output; a clipped ReLU's, so never above its clip) on the images x [N, ...] (preprocessed), one pass with
// BatchNorm in batch-statistics mode as training sees the net (on a copy: g's running statistics are not
// changed) and dropout off. A layer whose quantile is 0 takes its maximum, and a layer that never activates
// lambda = 1. QCFS layers already in g keep their lambda and take opt.levels. Returns the number of QCFS layers.
int qcfs_from_relu(graph & g, const at::Tensor & x, const qcfs_init_options & opt);

} // namespace snnkit
