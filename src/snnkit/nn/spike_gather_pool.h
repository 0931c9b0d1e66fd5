// snnkit/nn/spike_gather_pool.h: spikes average-pooled over windows, packed for the gathered convolution
// (spike_gather.h) without forming the pooled values.
//
// A convolution that reads avg_pool(spikes) over windows of g = kh * kw positions sums, per pooled input, q a_c
// W[:, c, i, j] / g, where q is the number of spikes of channel c in the window. Packing each window as g bits per
// channel (spike_bits::group = g: bit c g + s = the spike at the window's s-th position) lets spike_gather_conv2d add
// the row a_c W[:, c, i, j] / g (spike_gather_rows with scale 1 / g) once per spike: the same sum in another order,
// and the pooled map is never written. The work is the number of spikes under the kernel (about g times the pooled
// map's nonzero fraction), so spike_gather_wins(..., pooled = true) decides per call.
#pragma once

#include "snnkit/nn/spike_gather.h"

#include <ATen/ATen.h>

#include <array>
#include <cstdint>

namespace snnkit {

/// the largest window (positions) spike_gather_pool_pack takes
constexpr int64_t spike_gather_pool_max_group = 16;

// Whether an average pooling with this kernel, stride and padding has windows spike_gather_pool_pack packs: stride
// = kernel (windows side by side), no padding, kernel[0] * kernel[1] in [1, spike_gather_pool_max_group].
bool spike_gather_pool_fits(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                            std::array<int64_t, 2> padding);

// x [N, C, H, W] float spikes (0, or any nonzero value: the channel's amplitude), any layout (channels last is read
// as it lies), in windows `window` (kh, kw) side by side: the pooled map H / kh x W / kw (rows and columns past the
// last whole window are left out, as at::avg_pool2d does) as bits with group kh * kw, [N, H / kh, pad_left + W / kw
// + pad_right, ceil(C kh kw / 8)] bytes; `ones` counts the spikes inside whole windows. portable: the plain loops
// instead of the AVX-512 ones (both are tested against each other).
spike_bits spike_gather_pool_pack(const at::Tensor & x, std::array<int64_t, 2> window, int64_t pad_left,
                                  int64_t pad_right, bool portable = false);

// One row of windows: x holds kh rows of W positions of C channels (channels last, contiguous), and its W / kw
// windows go into (W / kw) * ceil(C kh kw / 8) bytes at dst (zeroed) as spike_gather_pool_pack packs a pooled row;
// returns the spikes inside whole windows. window as spike_gather_pool_fits takes it.
int64_t spike_gather_pool_pack_row(const float * x, int64_t W, int64_t C, std::array<int64_t, 2> window, uint8_t * dst,
                                   bool portable = false);

} // namespace snnkit
