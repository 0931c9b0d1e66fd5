// snnkit/nn/spike_gather_table.h: convolution of binary spikes by table lookup, for layers with few channels.
//
// The bit-packed spikes of spike_gather.h hold, per kernel row, kw * C bits: kw * C / 8 bytes. For each such byte
// position b and each of its 256 values v, a table holds the sum of the weight rows of v's set bits, so an output
// position is the bias plus one table row per byte: kh * kw * C / 8 vector additions per 16 outputs whatever the
// firing rate, against C kh kw multiply-adds per output for the dense kernel (8x fewer operations, none of them a
// branch or a gather of indices). The table is 32 times the weights (256 rows per 8 weight rows), so it suits the
// narrow layers (ResNet-20's 16 - 32 channels: 0.3 - 1.2 MB) where gathering bits costs more per spike than the
// spikes' additions. The sums are the float sums of the same products in another order.
#pragma once

#include "snnkit/nn/spike_gather.h"

#include <ATen/ATen.h>

#include <array>
#include <cstdint>

namespace snnkit {

/// bytes of a layer's table above which the executor gathers bits instead (the table then leaves the core's cache)
constexpr int64_t spike_gather_table_max_bytes = int64_t(3) << 19; // 1.5 MiB

// Bytes of the table of a layer of C input and O output channels with a kh x kw kernel.
int64_t spike_gather_table_bytes(int64_t C, int64_t O, int64_t kh, int64_t kw);

// The table of rows [kh, kw * Cp, Op] (spike_gather_rows): [kh, 256, kw * Cp / 8, Op] float, entry (i, v, b) = the
// sum of rows (i, 8 b + t) over the set bits t of v, added from the lowest bit up (entry 0: zeros). Value-major: the
// entries a position reads at a low firing rate (mostly v = 0) lie side by side, not 256 Op floats apart (a stride
// that maps them all to one set of the L1 cache).
at::Tensor spike_gather_table(const at::Tensor & rows);

// conv2d (groups 1, dilation 1) of the packed spikes (spike_gather_pack, with the padding spike_gather_conv2d needs)
// with a table from spike_gather_table and bias [O] (may be undefined): [N, O, OH, OW] float, channels-last
// strides. The sum per position: the bias and its table rows (kernel row by kernel row, byte by byte) in four running
// sums, row j into sum j mod 4, added as (s0 + s1) + (s2 + s3). portable: the plain loops instead of the AVX-512 ones
// (bit-equal: the same sums in the same order).
at::Tensor spike_gather_conv2d_table(const spike_bits & x, int64_t H, int64_t W, const at::Tensor & table, int64_t O,
                                     const at::Tensor & bias, std::array<int64_t, 2> kernel,
                                     std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                                     bool portable = false);

} // namespace snnkit
