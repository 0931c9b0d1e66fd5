// snnkit/nn/bn_fold.h: exact folding of BatchNorm (inference statistics) into the preceding conv/linear.
#pragma once

#include "snnkit/nn/graph.h"

namespace snnkit {

// For every batch_norm whose input is a conv2d or linear read by nothing else:
//   s = gamma / sqrt(running_var + eps)
//   W' = W * s (per output channel),  b' = (b - running_mean) * s + beta
// and the BN node is removed. Returns how many were folded. BN nodes that cannot be folded stay.
int fold_batch_norm(graph & g);

} // namespace snnkit
