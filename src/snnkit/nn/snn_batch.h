// snnkit/nn/snn_batch.h: how many images one SNN simulation batch may hold. A spiking layer's tensors hold
// T x batch samples at once ([T*N, ...]), so a batch that suits T = 8 can exhaust memory at T = 64 on a
// wide network (VGG-16 on CIFAR-10 at T = 64 and 200 images: 3.4 GB per activation tensor, killed at 24 GB).
#pragma once

#include "snnkit/nn/graph.h"

namespace snnkit {

/// default memory budget of a simulation's working set (calibration, eval, stats): 1 GiB
constexpr int64_t snn_default_memory_budget = int64_t(1) << 30;

// The one rule of calibration, eval and stats: under a memory budget, one activation tensor of a batch over
// T steps may take budget / 8 bytes (a simulation holds a few such tensors at once: the layer's input and
// output over T, the neuron's state; calibration also keeps WC's sample within budget / 16).
inline int64_t snn_tensor_bytes(int64_t memory_budget) { return memory_budget / 8 > 0 ? memory_budget / 8 : 1; }

// The largest batch (at most max_batch, at least 1) whose largest activation over T steps stays within
// `bytes`. The largest activation is measured by a one-step simulation of g on one sample (sample: one
// preprocessed input [1, ...] or [...]; g an SNN or an ANN).
int64_t snn_batch_for_memory(const graph & g, const at::Tensor & sample, int64_t T, int64_t max_batch,
                             int64_t bytes = snn_tensor_bytes(snn_default_memory_budget));

} // namespace snnkit
