// snnkit/nn/spike_sparse.h: event-driven (accumulate-only) convolution and linear layers for sparse inputs
// such as spike trains: only the nonzero inputs are visited, and each adds its value times the weights it
// reaches into the output (a scatter of weight rows), so the work grows with the number of spikes instead of
// the input size. bench/bench_sparse.cpp measures where this beats the dense oneDNN kernels; the SNN executor
// picks per layer and call with sparse_path_wins().
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <string>

namespace snnkit {

// Weights rearranged for the scatter: conv [O, C, kh, kw] -> [C, kh, kw, O], linear [O, K] -> [K, O] (one
// contiguous row of O per input position and kernel offset). Computed once per layer and run.
at::Tensor sparse_weight_rows(const at::Tensor & weight);

// conv2d (groups 1, dilation 1) of x [N, C, H, W] with weight rows from sparse_weight_rows of the weight
// [O, C, kh, kw] and bias [O] (may be undefined); returns [N, O, OH, OW] contiguous, equal to at::conv2d up to
// the order of the float sums. Zero inputs cost a scan only.
at::Tensor sparse_conv2d(const at::Tensor & x, const at::Tensor & rows, const at::Tensor & bias,
                         std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                         std::array<int64_t, 2> padding);

// linear of x [N, K] with rows [K, O] (sparse_weight_rows of weight [O, K]) and bias [O] (may be undefined):
// [N, O], equal to at::linear up to the order of the float sums.
at::Tensor sparse_linear(const at::Tensor & x, const at::Tensor & rows, const at::Tensor & bias);

// The fraction of x's values that are nonzero (one pass).
double nonzero_fraction(const at::Tensor & x);

// The rule: whether the sparse path is expected to beat the dense kernel for a layer of kind "conv2d" or
// "linear" whose input has this nonzero fraction. The thresholds are the crossovers that
// bench/bench_sparse.cpp measured on the development CPU (see the README's benchmark row), kept below them.
bool sparse_path_wins(const std::string & kind, double input_nonzero_fraction);

} // namespace snnkit
