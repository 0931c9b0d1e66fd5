// snnkit/nn/spike_conv_int8.h: the int8 scheme of the AMX spike convolution (spike_conv_bf16.h,
// spike_conv_bf16_cache::conv2d with int8 = true).
//
// AMX multiplies int8 at twice its bfloat16 rate, and sums int8 products exactly in int32. A spike input is an
// integer per position (0 / 1, or q = 0..L for pooled spikes: exact in uint8), so only the weights need care: each
// output channel o's folded weights a_c W_o are written as s_o (q0 + q1 / 254 + q2 / 254^2) with int8 parts q0, q1,
// q2 in [-127, 127] and s_o = max |a_c W_o| / 127, leaving an error of at most s_o / (2 * 254^2), about 6.1e-8 of the
// channel's largest weight (a float keeps each weight to 6e-8 of itself). One oneDNN int8 convolution computes the
// three parts as 3 O output channels, each scaled by its part's scale, in float; spike_combine_parts adds the three
// and the bias. Against the bfloat16 scheme (three parts along the input channels) it does half the multiply-add
// time, reads a third of the input bytes and writes three float outputs per output: bench/bench_snn_infer.cpp and
// tests/nn/spike_conv_int8_test.cpp measure both.
#pragma once

#include <ATen/ATen.h>

#include <utility>

namespace snnkit {

/// largest level a packed uint8 value takes (pooled spikes: q = 0..levels)
constexpr int spike_int8_max_levels = 255;

/// input channels from which the executor takes the int8 scheme (snn_options::spike_int8). Measured end to end
/// (bench_snn_infer, T = 32, batch 16, 2 threads): VGG-16 36.4 / 35.9 / 40.5 / 38.7 images/s with int8 from 0 /
/// 64 / 128 / 256 channels against 28.8 all bfloat16; ResNet-20 (16 - 64 channels) 70.4 / 89.6 / 93.0 with int8
/// from 0 / 32 / 64 against 107.5 all bfloat16: on narrow layers, bound by memory traffic, the three float outputs
/// per output cost more than the halved multiply-add time saves.
constexpr int64_t spike_int8_min_channels = 128;

// Whether the executor runs a spike convolution of C input channels and `levels` input levels on the int8 scheme
// when asked to (snn_options::spike_int8): C >= spike_int8_min_channels and levels <= spike_int8_max_levels.
inline bool spike_int8_applies(int64_t C, int levels) {
    return C >= spike_int8_min_channels && levels >= 1 && levels <= spike_int8_max_levels;
}

// The three int8 parts of weight [O, C, kh, kw] with the amplitudes amp (undefined, 0-d, or [C] per input channel)
// folded in: {parts [3 O, C, kh, kw] int8 (part p of channel o at row p O + o), scales [3 O] float (s_o, s_o / 254,
// s_o / 254^2 at rows o, O + o, 2 O + o)}. Computed in double; an all-zero channel gets s_o = 1 and zero parts.
std::pair<at::Tensor, at::Tensor> spike_conv_int8_weight(const at::Tensor & weight, const at::Tensor & amp);

// x [N, C, H, W] float (contiguous or channels last) whose values are q times a quantum -> [ceil(N / strip), H,
// strip*(W + gap), C] uint8: [x != 0] for levels 1, else round(x * inv_quantum) (0-d or [C]; levels <=
// spike_int8_max_levels); images side by side per row as spike_pack_bf16's strips, the last row filled with zeros.
at::Tensor spike_pack_u8(const at::Tensor & x, int64_t strip, int64_t gap, int levels, const at::Tensor & inv_quantum);

// y [rows, 3 O] float (the three parts' scaled outputs of each position) -> out [rows, O] = y[:, 0:O] + y[:, O:2O] +
// y[:, 2O:3O] (+ bias [O], may be undefined), out preallocated and contiguous.
void spike_combine_parts(const at::Tensor & y, const at::Tensor & bias, at::Tensor & out);

} // namespace snnkit
