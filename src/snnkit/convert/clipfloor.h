// snnkit/convert/clipfloor.h: the layer-wise conversion error model (Deng & Gu, ICLR 2021).
//
// An IF neuron (soft reset, threshold V, V-valued spikes) driven for T steps by a constant input x fires
// at the rate
//     r = V/T * clip(floor(T*x/V + shift), 0, T)
// where shift = 0 without bias shift, and shift = 1/2 with the bias shift b += V/(2T) (equivalently the
// initial potential v(0) = V/2), which turns the floor into rounding.
#pragma once

#include <ATen/ATen.h>

namespace snnkit {

// clipfloor(x, T, V) = V/T * clip(floor(T*x/V + shift), 0, T); V is a scalar or broadcastable tensor.
at::Tensor clipfloor(const at::Tensor & x, int64_t T, const at::Tensor & v_th, double shift = 0.0);

// The squared error sum ||clipfloor(x, T, V) - relu(x)||^2.
double clipfloor_error(const at::Tensor & x, int64_t T, double v_th, double shift = 0.0);

} // namespace snnkit
