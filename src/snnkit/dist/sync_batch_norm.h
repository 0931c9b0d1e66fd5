// snnkit/dist/sync_batch_norm.h: BatchNorm whose training statistics are those of the global batch (--sync-bn):
// every rank all-reduces the per-channel sum, sum of squares and count (in double), normalises with the global
// mean and biased variance, and updates its running statistics with them (unbiased variance, as at::batch_norm);
// the backward pass all-reduces the gradients of those sums, so each rank's gradient is that of the global loss
// (PyTorch's SyncBatchNorm does the same). Installed for apply_op by data_parallel::enable_sync_batch_norm.
#pragma once

#include "snnkit/dist/process_group.h"
#include "snnkit/nn/graph.h"

#include <ATen/ATen.h>

namespace snnkit {

// Training-mode BatchNorm of node n (weight, bias, running_mean, running_var; attrs eps, momentum) on x [B, C, ...]
// with statistics over every rank of pg. Every rank must call it for the same layers in the same order.
at::Tensor sync_batch_norm(process_group & pg, const node & n, const at::Tensor & x);

} // namespace snnkit
