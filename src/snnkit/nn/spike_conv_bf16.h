// snnkit/nn/spike_conv_bf16.h: convolution of a spike train on the CPU's bfloat16 matrix units (Intel AMX)
// without giving up float precision.
//
// A spike input holds, per channel, only 0 or one amplitude a_c (1, or V_th for V_th-valued spikes), so the
// convolution is sum over active inputs of a_c * W. The indicator s = [x != 0] is exact in bfloat16, and so are
// the three bfloat16 parts of each folded weight a_c * W = W1 + W2 + W3 (W1 = bf16(a_c W), W2 = bf16 of the rest,
// W3 = bf16 of what remains: 24 significant bits, a float's). One oneDNN convolution over the input repeated three
// times along the channels, [s, s, s], with the weights [W1 | W2 | W3] and a float destination, sums the exact
// products in float: the result equals at::conv2d(x, W) up to the order of the float sums. It does three times the
// multiply-adds on units with many times the float rate; whether that wins depends on the layer (small channel
// counts are bound by memory traffic): bench/bench_snn_infer.cpp measures it end to end.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <memory>

namespace snnkit {

// Whether spike_conv2d_bf16 can run here: snnkit was built with oneDNN's headers (Debian: libdnnl-dev) and the
// CPU has AMX with bfloat16 (without it, bfloat16 convolutions are no faster than float ones).
bool spike_conv_bf16_available();

// The AMX convolution's input: x [N, C, H, W] float (contiguous or channels last) -> [N, H, W, copies*C] bfloat16,
// 1 where x != 0 and 0 elsewhere, the C channels repeated once per weight part. portable: the plain loop instead of
// the AVX-512 one (both are tested against each other).
at::Tensor spike_conv_bf16_pack(const at::Tensor & x, int copies, bool portable = false);

// Whether the AMX convolution beats oneDNN's float one for x [N, C, H, W] under this geometry. oneDNN's AMX
// kernel (brgconv) fills its 16-row tiles from one output row, so narrow outputs leave most of each tile empty.
// By measurement on VGG-16 and ResNet-20 (spike_conv_bf16.cpp, choose_layout): true for an output width of 16 or
// more; for width 4 to 15 when the convolution keeps the width (spike_conv_bf16_strip_fits; from width 8 only
// with 128 or more channels), run on strips of images side by side; for a tiny map (2 x 2 under a 3 x 3 kernel)
// as one dense matrix product; else false.
bool spike_conv_bf16_wins(const at::Tensor & x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                          std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation);

// Whether a convolution along the width keeps it (stride 1, dilation 1, kernel 2 * padding + 1, as VGG's and
// ResNet's 3x3 / pad 1): then images laid side by side in one row, padding zeros between them, convolve as one.
bool spike_conv_bf16_strip_fits(int64_t kernel_w, int64_t stride_w, int64_t padding_w, int64_t dilation_w);

// weight [O, C, kh, kw] (4-d: the caller checks) with the spike amplitudes amp folded in: undefined (1), one value,
// or [C] per input channel (else fails naming `what`), as a contiguous tensor of dtype dt.
at::Tensor spike_folded_weight(const at::Tensor & weight, const at::Tensor & amp, at::ScalarType dt,
                               const char * what);

// The bfloat16 parts of weight [O, C, kh, kw] with the amplitudes amp (0-d, or [C] per input channel) folded in,
// concatenated along the input channels: [O, nparts*C, kh, kw] bfloat16. nparts = 3 (the default) keeps all 24
// significant bits of each float weight; 2 keeps 16 and 1 keeps 8 (the weight rounded to bfloat16: fewer
// multiply-adds, an approximate convolution whose effect on accuracy must be measured).
at::Tensor spike_conv_bf16_weight(const at::Tensor & weight, const at::Tensor & amp, int nparts = 3);

// conv2d (groups 1) of x [N, C, H, W] float, whose every value is 0 or the channel's amplitude, with the parts
// from spike_conv_bf16_weight (their count read from their channels) and bias [O] (may be undefined):
// [N, O, OH, OW] float (channels-last strides). With 3 parts it equals at::conv2d(x, weight, bias, ...) up to the
// order of the float sums. Narrow outputs run as spike_conv_bf16_wins says: on strips (k images side by side with
// padding zeros between them, the outputs at the gaps dropped) or as one dense matrix product. levels > 1: x holds
// spikes of amplitude amp (0-d or [C]; undefined: 1) averaged over `levels` positions (an average pool of k*k,
// levels = k*k <= 256), the values amp * q / levels for integers q, packed as q; the parts must then fold
// amp / levels into the weights (the cache does). Fails when spike_conv_bf16_available() is false.
at::Tensor spike_conv2d_bf16(const at::Tensor & x, const at::Tensor & parts, const at::Tensor & bias,
                             std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                             std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                             const at::Tensor & amp = {}, int levels = 1);

// Prepared spike convolutions, reused across calls: per layer the weight parts and, per input shape, the oneDNN
// convolution with the parts already in its blocked weight layout (spike_conv2d_bf16 makes both on every call:
// for VGG-16 that is about 45 M bfloat16 values split and reordered per forward). A layer is keyed on its weight
// and amplitude tensors, which the cache holds (so their identity cannot pass to another tensor), and on their
// version counters: changing either in place prepares the layer again. Every weight it has seen stays held until
// the cache goes, so it suits one network's run (eval's batches, a benchmark), not a stream of new tensors. One
// cache per run loop (not thread-safe).
class spike_conv_bf16_cache {
  public:
    spike_conv_bf16_cache();
    ~spike_conv_bf16_cache();
    spike_conv_bf16_cache(const spike_conv_bf16_cache &) = delete;
    spike_conv_bf16_cache & operator=(const spike_conv_bf16_cache &) = delete;

    // spike_conv2d_bf16(x, spike_conv_bf16_weight(weight, amp / levels, nparts), bias, ..., amp, levels) with the
    // layer prepared once (levels 1: spikes; k*k: spikes average-pooled over k x k). int8: the int8 scheme instead
    // (spike_conv_int8.h: three int8 parts per output channel, exact integer sums; nparts is then ignored, levels
    // at most spike_int8_max_levels), in the same layouts
    at::Tensor conv2d(const at::Tensor & x, const at::Tensor & weight, const at::Tensor & amp, const at::Tensor & bias,
                      std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                      std::array<int64_t, 2> dilation, int nparts = 3, int levels = 1, bool int8 = false);

    // prepared layers held, and times a layer was prepared (again) since the cache was made
    size_t layers() const;
    int64_t preparations() const;

  private:
    struct impl;
    std::unique_ptr<impl> p_;
};

} // namespace snnkit
