// snnkit/nn/spike_pack_bf16.h: the input of the AMX spike convolution (spike_conv_bf16.h): a float tensor whose
// every value is an integer multiple q = 0..L of its channel's quantum (spikes: q in {0, 1} times the amplitude;
// spikes average-pooled over k x k: L = k*k levels), written as the integers q in bfloat16 (exact up to 256),
// channels last, the C channels repeated once per weight part, optionally as strips of images side by side.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace snnkit {

// The most levels a packed value may take: integers 0..256 are exact in bfloat16 (8 significant bits).
constexpr int spike_pack_max_levels = 256;

struct spike_pack_layout {
    /// copies of the C channels at each position, one per bfloat16 weight part (1..3)
    int copies = 3;
    /// images side by side per row (1: one image per row); image n = g*strip + j starts at position j*(W + gap)
    /// of row g, the last row filled up with zero images
    int64_t strip = 1;
    /// zero positions after each image of a strip
    int64_t gap = 0;
    /// 1: the indicator [x != 0] (spikes); L > 1: q = round(x * inv_quantum), integers 0..L (L <= spike_pack_max_levels)
    int levels = 1;
    /// levels > 1: 1 / the quantum, one value (0-d) or one per channel [C], float
    at::Tensor inv_quantum;
};

// x [N, C, H, W] float (contiguous or channels last) -> [ceil(N / strip), H, strip*(W + gap), copies*C] bfloat16.
// portable: the plain loops instead of the AVX-512 ones (both are tested against each other).
at::Tensor spike_pack_bf16(const at::Tensor & x, const spike_pack_layout & o, bool portable = false);

} // namespace snnkit
