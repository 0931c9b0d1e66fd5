// snnkit/nn/spike_conv_bf16.cpp
#include "snnkit/nn/spike_conv_bf16.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/graph.h"
#include "snnkit/nn/spike_conv_int8.h"
#include "snnkit/nn/spike_pack_bf16.h"
#include "snnkit/nn/tensor_key.h"

#include <ATen/Parallel.h>

#if SNNKIT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include <algorithm>
#include <numeric>
#include <cstdint>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace snnkit {

bool spike_conv_bf16_available() {
#if SNNKIT_HAVE_DNNL
    static const bool ok = [] {
        try {
            return dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx;
        } catch (const dnnl::error &) {
            return false;
        }
    }();
    return ok;
#else
    return false;
#endif
}

bool spike_conv_bf16_strip_fits(int64_t kernel_w, int64_t stride_w, int64_t padding_w, int64_t dilation_w) {
    return stride_w == 1 && dilation_w == 1 && kernel_w == 2 * padding_w + 1;
}

namespace {

// How the AMX path runs a convolution of C channels from H x W to OH x OW, by measurement (bench_snn_infer's
// oneDNN verbose log, batch 16 x T 32, 3 parts, 2026-12-07; time against oneDNN's float convolution of the same
// layer, and end to end):
// - direct: output width 16 or more (3.2x, 3.3x at width 32, 16 on VGG-16);
// - strip, when the convolution keeps the width: images side by side in rows of whole 16-position tiles. Width 4
//   to 7 (1.3x on VGG-16's 512-channel layers, where the direct AMX convolution ran at 0.66x); width 8 to 15 with
//   128 or more channels (VGG-16's 256-channel layers: 1.9x against 1.2x direct, 8 % faster end to end), but not
//   with fewer (ResNet-20's 64-channel width-8 layers: end to end 6 % slower than direct, as the packing and the
//   gathering of the outputs outweigh the fuller tiles);
// - dense: a tiny map (H W OH OW <= 16, and H W no more than the kernel's taps, so no more multiply-adds than
//   the direct convolution over its padding) as one matrix product with the weights scattered into a dense
//   [H W C, OH OW O] matrix (VGG-16's 2 x 2 layers: 2.4x, where strips ran at 0.85x and direct at 0.23x);
// - none: the float convolution (other narrow outputs, where direct AMX loses).
enum class amx_layout { none, direct, strip, dense };

amx_layout choose_layout(int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, std::array<int64_t, 2> kernel,
                         std::array<int64_t, 2> stride, std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation) {
    if (OH < 1 || OW < 1) {
        return amx_layout::none;
    }
    const bool strip_fits = spike_conv_bf16_strip_fits(kernel[1], stride[1], padding[1], dilation[1]);
    if (strip_fits && ((OW >= 4 && OW < 8) || (OW >= 8 && OW < 16 && C >= 128))) {
        return amx_layout::strip;
    }
    if (OW >= 8) {
        return amx_layout::direct;
    }
    if (H * W * OH * OW <= 16 && H * W <= kernel[0] * kernel[1]) {
        return amx_layout::dense;
    }
    return amx_layout::none;
}

} // namespace

bool spike_conv_bf16_wins(const at::Tensor & x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                          std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation) {
    if (x.dim() != 4) {
        return false;
    }
    const int64_t H = x.size(2), W = x.size(3);
    return choose_layout(x.size(1), H, W, conv_out_extent(H, kernel[0], stride[0], padding[0], dilation[0]),
                         conv_out_extent(W, kernel[1], stride[1], padding[1], dilation[1]), kernel, stride, padding,
                         dilation) != amx_layout::none;
}

at::Tensor spike_folded_weight(const at::Tensor & weight, const at::Tensor & amp, at::ScalarType dt,
                               const char * what) {
    const int64_t C = weight.size(1);
    at::Tensor w = weight.detach().to(dt).contiguous();
    if (!amp.defined()) {
        return w;
    }
    if (amp.numel() == 1) {
        return w * amp.detach().to(dt).reshape({});
    }
    if (amp.numel() != C) {
        fail(what, "amplitude has " + std::to_string(amp.numel()) + " values for " + std::to_string(C) +
                       " input channels");
    }
    return w * amp.detach().to(dt).reshape({1, C, 1, 1});
}

at::Tensor spike_conv_bf16_weight(const at::Tensor & weight, const at::Tensor & amp, int nparts) {
    const char * what = "spike_conv_bf16_weight";
    if (weight.dim() != 4) {
        fail(what, "weight must be [O, C, kh, kw], got " + std::to_string(weight.dim()) + " dims");
    }
    if (nparts < 1 || nparts > 3) {
        fail(what, "parts must be 1, 2 or 3, got " + std::to_string(nparts));
    }
    const at::Tensor w = spike_folded_weight(weight, amp, at::kFloat, what);
    // a float's 24 significant bits in three bfloat16 parts of 8: each remainder is exact in float
    std::vector<at::Tensor> parts;
    at::Tensor rest = w;
    for (int k = 0; k < nparts; ++k) {
        parts.push_back(rest.to(at::kBFloat16));
        if (k + 1 < nparts) {
            rest = rest - parts.back().to(at::kFloat);
        }
    }
    return at::cat(parts, 1).contiguous();
}

namespace {

// The shapes of one spike convolution, checked.
struct conv_geometry {
    int64_t N = 0, C = 0, H = 0, W = 0, O = 0, OH = 0, OW = 0;
    int nparts = 3;
    bool int8 = false; // the int8 scheme (spike_conv_int8.h): parts [3 O, C, kh, kw] int8, 3 O outputs
    bool bias = false;
    std::array<int64_t, 2> kernel{}, stride{}, padding{}, dilation{}, pad_end{};
    int64_t strip = 1; // images side by side per row (spike_pack_bf16); the primitive's N and W are the strip's
    bool dense = false; // one matrix product [N, H W nparts C] x [H W nparts C, OH OW O] (choose_layout)

    bool operator==(const conv_geometry & o) const {
        return N == o.N && C == o.C && H == o.H && W == o.W && O == o.O && nparts == o.nparts && int8 == o.int8 &&
               bias == o.bias &&
               kernel == o.kernel && stride == o.stride && padding == o.padding && dilation == o.dilation;
    }
};

// What the input holds: spikes (levels 1, the indicator), or integers q = 0..levels times a quantum per channel
// (spikes average-pooled over levels = k*k positions: quantum = amplitude / levels), packed as q.
struct input_levels {
    int levels = 1;
    at::Tensor inv_quantum; // levels > 1: levels / amplitude, 0-d or [C]
};

// The quantum (folded into the weights) and the input's levels for spikes of amplitude amp (undefined: 1) seen
// through an average over `levels` positions.
std::pair<at::Tensor, input_levels> quantum_of(const at::Tensor & amp, int levels) {
    if (levels < 1 || levels > spike_pack_max_levels) {
        fail("spike_conv2d_bf16", "levels must be 1.." + std::to_string(spike_pack_max_levels) + ", got " +
                                      std::to_string(levels));
    }
    input_levels in;
    in.levels = levels;
    if (levels == 1) {
        return {amp, in};
    }
    const at::Tensor a = amp.defined() ? amp.detach().to(at::kFloat) : at::ones({}, at::kFloat);
    in.inv_quantum = static_cast<double>(levels) / a;
    return {a / static_cast<double>(levels), in};
}

conv_geometry geometry_of(const at::Tensor & x, const at::Tensor & parts, const at::Tensor & bias,
                          std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                          std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation) {
    const char * what = "spike_conv2d_bf16";
    if (!spike_conv_bf16_available()) {
        fail(what, "needs snnkit built with oneDNN (libdnnl-dev) and a CPU with AMX-BF16");
    }
    if (x.dim() != 4 || x.scalar_type() != at::kFloat || !x.device().is_cpu()) {
        fail(what, "x must be a float CPU tensor [N, C, H, W]");
    }
    const int64_t C = x.size(1);
    const bool int8 = parts.scalar_type() == at::kChar;
    if (int8 ? parts.dim() != 4 || parts.size(0) % 3 != 0 || parts.size(1) != C || parts.size(2) != kernel[0] ||
                   parts.size(3) != kernel[1]
             : parts.dim() != 4 || parts.scalar_type() != at::kBFloat16 || C < 1 || parts.size(1) % C != 0 ||
                   parts.size(1) / C < 1 || parts.size(1) / C > 3 || parts.size(2) != kernel[0] ||
                   parts.size(3) != kernel[1]) {
        fail(what, "weight parts must be spike_conv_bf16_weight's [O, k*C, kh, kw] (k = 1..3) or spike_conv_int8_weight's "
                   "[3 O, C, kh, kw] for C = " + std::to_string(C));
    }
    conv_geometry g;
    g.N = x.size(0);
    g.C = C;
    g.H = x.size(2);
    g.W = x.size(3);
    g.int8 = int8;
    g.O = int8 ? parts.size(0) / 3 : parts.size(0);
    g.nparts = int8 ? 3 : static_cast<int>(parts.size(1) / C);
    g.bias = bias.defined();
    if (g.bias && bias.numel() != g.O) {
        fail(what, "bias has " + std::to_string(bias.numel()) + " values for " + std::to_string(g.O) + " outputs");
    }
    g.kernel = kernel;
    g.stride = stride;
    g.padding = padding;
    g.dilation = dilation;
    g.OH = conv_out_extent(g.H, kernel[0], stride[0], padding[0], dilation[0]);
    g.OW = conv_out_extent(g.W, kernel[1], stride[1], padding[1], dilation[1]);
    if (g.OH < 1 || g.OW < 1) {
        fail(what, "the input is smaller than the kernel");
    }
    // PyTorch pads both sides by `padding`; oneDNN wants the right/bottom padding that gives the same output size
    g.pad_end = {(g.OH - 1) * stride[0] + (kernel[0] - 1) * dilation[0] + 1 - g.H - padding[0],
                 (g.OW - 1) * stride[1] + (kernel[1] - 1) * dilation[1] + 1 - g.W - padding[1]};
    // A narrow output leaves the AMX tiles mostly empty (choose_layout). Strips: when the convolution keeps the
    // width, lay k images side by side in one row with padding[1] zero positions after each. The zeros are each
    // image's right padding and its right neighbour's left padding, so every image's outputs are its own
    // convolution's; the outputs at the gaps are dropped. k: rows of whole 16-position tiles, 32 or more. A tiny map
    // is one dense matrix product instead.
    const amx_layout layout = choose_layout(g.C, g.H, g.W, g.OH, g.OW, kernel, stride, padding, dilation);
    if (layout == amx_layout::strip) { // rows of whole 16-position tiles: k (W + gap) a multiple of 16, >= 32
        const int64_t step = g.W + padding[1];
        int64_t k = 16 / std::gcd<int64_t>(step, 16);
        while (k * step < 32) {
            k *= 2;
        }
        g.strip = std::min<int64_t>(g.N, k);
    }
    g.dense = layout == amx_layout::dense;
    return g;
}

// The convolution oneDNN runs for g: g itself, or for a strip the rows of k images (the last one filled up with
// zero images) and a right padding of padding[1] (the last image's gap holds the rest).
conv_geometry primitive_geometry(const conv_geometry & g) {
    if (g.strip <= 1) {
        return g;
    }
    conv_geometry p = g;
    p.N = (g.N + g.strip - 1) / g.strip;
    p.W = g.strip * (g.W + g.padding[1]);
    p.OW = p.W;
    p.pad_end[1] = g.padding[1];
    p.strip = 1;
    return p;
}

#if SNNKIT_HAVE_DNNL
const dnnl::engine & cpu_engine() {
    static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    return eng;
}

// One geometry's oneDNN convolution, with the weight parts in the layout it reads.
struct prepared_conv {
    conv_geometry g;
    dnnl::primitive prim; // a convolution, or for g.dense a matmul
    dnnl::memory wmem;
    at::Tensor wbuf; // owns wmem's storage (the plain parts when the primitive reads them as they are)
};

// The weights in the layout the primitive reads: reordered once into wmem (owned by wbuf), or used as they are.
void set_weights(prepared_conv & p, const dnnl::memory::desc & wanted, dnnl::memory plain, const at::Tensor & data) {
    const dnnl::engine & eng = cpu_engine();
    if (wanted == plain.get_desc()) {
        p.wbuf = data;
        p.wmem = plain;
        return;
    }
    p.wbuf = at::empty({static_cast<int64_t>(wanted.get_size())}, data.options().dtype(at::kByte));
    p.wmem = dnnl::memory(wanted, eng, p.wbuf.data_ptr());
    dnnl::stream strm(eng);
    dnnl::reorder(plain, p.wmem).execute(strm, plain, p.wmem);
    strm.wait();
}

// The dense matrix of a tiny convolution: row (h, w, k) of the packed input [N, H, W, nparts*C] feeds column
// (oh, ow, o) of the output [N, OH, OW, O] through the tap that joins them, zero where no tap does.
at::Tensor dense_weights(const conv_geometry & g, const at::Tensor & parts) {
    const int64_t CK = g.nparts * g.C;
    at::Tensor d = at::zeros({g.H, g.W, CK, g.OH, g.OW, g.O}, parts.options());
    for (int64_t oh = 0; oh < g.OH; ++oh) {
        for (int64_t ow = 0; ow < g.OW; ++ow) {
            for (int64_t i = 0; i < g.kernel[0]; ++i) {
                const int64_t h = oh * g.stride[0] - g.padding[0] + i * g.dilation[0];
                for (int64_t j = 0; j < g.kernel[1]; ++j) {
                    const int64_t w = ow * g.stride[1] - g.padding[1] + j * g.dilation[1];
                    if (h >= 0 && h < g.H && w >= 0 && w < g.W) {
                        d.select(0, h).select(0, w).select(1, oh).select(1, ow).copy_(parts.select(3, j).select(2, i).t());
                    }
                }
            }
        }
    }
    return d.reshape({g.H * g.W * CK, g.OH * g.OW * g.O});
}

// The int8 scheme's primitive: uint8 spikes [N, H, W, C] times the parts [3 O, C, kh, kw] into float [N, OH, OW,
// 3 O], each output channel scaled by its part's scale (a dense layout: columns (oh, ow, part, o)).
prepared_conv prepare_int8(const conv_geometry & key, const at::Tensor & parts, const at::Tensor & scales) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const conv_geometry g = primitive_geometry(key);
    const dnnl::engine & eng = cpu_engine();
    const int64_t O3 = 3 * g.O;
    prepared_conv p;
    p.g = key;
    dnnl::primitive_attr attr;
    if (g.dense) {
        const int64_t K = g.H * g.W * g.C, M = g.OH * g.OW * O3;
        conv_geometry one = g;
        one.nparts = 1;
        std::vector<at::Tensor> cols;
        for (int64_t k = 0; k < 3; ++k) {
            cols.push_back(dense_weights(one, parts.narrow(0, k * g.O, g.O)).view({K, g.OH * g.OW, 1, g.O}));
        }
        const at::Tensor dense = at::cat(cols, 2).reshape({K, M}).contiguous();
        const at::Tensor cs = scales.view({1, 3, g.O}).expand({g.OH * g.OW, 3, g.O}).contiguous();
        attr.set_output_scales(1 << 1, std::vector<float>(cs.data_ptr<float>(), cs.data_ptr<float>() + M));
        const dnnl::matmul::desc d(dnnl::memory::desc({g.N, K}, dt::u8, tag::ab),
                                   dnnl::memory::desc({K, M}, dt::s8, tag::any),
                                   dnnl::memory::desc({g.N, M}, dt::f32, tag::ab));
        const dnnl::matmul::primitive_desc pd(d, attr, eng);
        p.prim = dnnl::matmul(pd);
        set_weights(p, pd.weights_desc(), dnnl::memory({{K, M}, dt::s8, tag::ab}, eng, dense.data_ptr()), dense);
        return p;
    }
    attr.set_output_scales(1 << 1, std::vector<float>(scales.data_ptr<float>(), scales.data_ptr<float>() + O3));
    const dnnl::convolution_forward::desc d(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        dnnl::memory::desc({g.N, g.C, g.H, g.W}, dt::u8, tag::nhwc),
        dnnl::memory::desc({O3, g.C, g.kernel[0], g.kernel[1]}, dt::s8, tag::any),
        dnnl::memory::desc({g.N, O3, g.OH, g.OW}, dt::f32, tag::nhwc), {g.stride[0], g.stride[1]},
        {g.dilation[0] - 1, g.dilation[1] - 1}, {g.padding[0], g.padding[1]}, {g.pad_end[0], g.pad_end[1]});
    const dnnl::convolution_forward::primitive_desc pd(d, attr, eng);
    p.prim = dnnl::convolution_forward(pd);
    set_weights(p, pd.weights_desc(),
                dnnl::memory({{O3, g.C, g.kernel[0], g.kernel[1]}, dt::s8, tag::oihw}, eng, parts.data_ptr()), parts);
    return p;
}

prepared_conv prepare_conv(const conv_geometry & key, const at::Tensor & parts_in, const at::Tensor & scales = {}) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const conv_geometry g = primitive_geometry(key);
    const dnnl::engine & eng = cpu_engine();
    const int64_t CK = g.nparts * g.C;
    const at::Tensor parts = parts_in.contiguous();
    if (g.int8) {
        return prepare_int8(key, parts, scales.contiguous());
    }
    prepared_conv p;
    p.g = key;
    if (g.dense) {
        const int64_t K = g.H * g.W * CK, M = g.OH * g.OW * g.O;
        const dnnl::memory::desc wei_md({K, M}, dt::bf16, tag::any);
        const dnnl::memory::desc bias_md = g.bias ? dnnl::memory::desc({1, M}, dt::f32, tag::ab) : dnnl::memory::desc();
        const dnnl::matmul::desc d(dnnl::memory::desc({g.N, K}, dt::bf16, tag::ab), wei_md, bias_md,
                                   dnnl::memory::desc({g.N, M}, dt::f32, tag::ab));
        const dnnl::matmul::primitive_desc pd(d, eng);
        p.prim = dnnl::matmul(pd);
        const at::Tensor dense = dense_weights(g, parts);
        set_weights(p, pd.weights_desc(), dnnl::memory({{K, M}, dt::bf16, tag::ab}, eng, dense.data_ptr()), dense);
        return p;
    }
    const dnnl::memory::desc src_md({g.N, CK, g.H, g.W}, dt::bf16, tag::nhwc);
    const dnnl::memory::desc wei_md({g.O, CK, g.kernel[0], g.kernel[1]}, dt::bf16, tag::any);
    const dnnl::memory::desc dst_md({g.N, g.O, g.OH, g.OW}, dt::f32, tag::nhwc);
    const dnnl::memory::desc bias_md = g.bias ? dnnl::memory::desc({g.O}, dt::f32, tag::a) : dnnl::memory::desc();
    const dnnl::convolution_forward::desc d(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md, wei_md, bias_md, dst_md,
        {g.stride[0], g.stride[1]}, {g.dilation[0] - 1, g.dilation[1] - 1}, {g.padding[0], g.padding[1]},
        {g.pad_end[0], g.pad_end[1]});
    const dnnl::convolution_forward::primitive_desc pd(d, eng);
    p.prim = dnnl::convolution_forward(pd);
    set_weights(p, pd.weights_desc(),
                dnnl::memory({{g.O, CK, g.kernel[0], g.kernel[1]}, dt::bf16, tag::oihw}, eng, parts.data_ptr()), parts);
    return p;
}

// The primitive's output [G, OH, OW', O] as the layer's [N, O, OH, OW] (channels-last strides): for strips,
// [G, OH, k*(W + gap), O] -> each image's W columns.
at::Tensor unstrip(const conv_geometry & key, at::Tensor out) {
    if (key.strip > 1) {
        const int64_t k = key.strip;
        out = out.view({out.size(0), key.OH, k, key.W + key.padding[1], key.O})
                  .narrow(3, 0, key.OW)
                  .permute({0, 2, 1, 3, 4})
                  .reshape({out.size(0) * k, key.OH, key.OW, key.O})
                  .narrow(0, 0, key.N);
    }
    return out.permute({0, 3, 1, 2});
}

// The int8 scheme: x packed as uint8, the three parts' scaled outputs [.., 3 O] added with the bias into [G, OH,
// OW', O]; g: the primitive's geometry (primitive_geometry of p.g, which run_conv has made).
at::Tensor run_int8(const prepared_conv & p, const conv_geometry & g, const at::Tensor & x, const at::Tensor & bias,
                    const input_levels & in) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const conv_geometry & key = p.g;
    const dnnl::engine & eng = cpu_engine();
    const at::Tensor src = spike_pack_u8(x, key.strip, key.strip > 1 ? key.padding[1] : 0, in.levels, in.inv_quantum);
    const int64_t O3 = 3 * g.O;
    at::Tensor y = at::empty({g.N, g.OH, g.OW, O3}, x.options());
    dnnl::stream strm(eng);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_WEIGHTS, p.wmem}};
    if (g.dense) {
        const int64_t K = g.H * g.W * g.C, M = g.OH * g.OW * O3;
        args.emplace(DNNL_ARG_SRC, dnnl::memory({{g.N, K}, dt::u8, tag::ab}, eng, src.data_ptr()));
        args.emplace(DNNL_ARG_DST, dnnl::memory({{g.N, M}, dt::f32, tag::ab}, eng, y.data_ptr()));
    } else {
        args.emplace(DNNL_ARG_SRC, dnnl::memory({{g.N, g.C, g.H, g.W}, dt::u8, tag::nhwc}, eng, src.data_ptr()));
        args.emplace(DNNL_ARG_DST, dnnl::memory({{g.N, O3, g.OH, g.OW}, dt::f32, tag::nhwc}, eng, y.data_ptr()));
    }
    p.prim.execute(strm, args);
    strm.wait();
    at::Tensor out = at::empty({g.N, g.OH, g.OW, g.O}, x.options());
    at::Tensor rows = out.view({-1, g.O});
    spike_combine_parts(y.view({-1, O3}), g.bias ? bias : at::Tensor(), rows);
    return out;
}

at::Tensor run_conv(const prepared_conv & p, const at::Tensor & x, const at::Tensor & bias, const input_levels & in) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const conv_geometry & key = p.g;
    const conv_geometry g = primitive_geometry(key);
    const dnnl::engine & eng = cpu_engine();
    if (g.int8) {
        return unstrip(key, run_int8(p, g, x, bias, in));
    }
    spike_pack_layout pl;
    pl.copies = g.nparts;
    pl.strip = key.strip;
    pl.gap = key.strip > 1 ? key.padding[1] : 0;
    pl.levels = in.levels;
    pl.inv_quantum = in.inv_quantum;
    const at::Tensor src = spike_pack_bf16(x, pl);
    at::Tensor b = g.bias ? bias.detach().to(at::kFloat).contiguous() : at::Tensor();
    at::Tensor out = at::empty({g.N, g.OH, g.OW, g.O}, x.options());
    dnnl::stream strm(eng);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_WEIGHTS, p.wmem}};
    if (g.dense) { // [N, H W CK] x [H W CK, OH OW O] (+ the bias of each output channel at every position)
        const int64_t K = g.H * g.W * g.nparts * g.C, M = g.OH * g.OW * g.O;
        args.emplace(DNNL_ARG_SRC, dnnl::memory({{g.N, K}, dt::bf16, tag::ab}, eng, src.data_ptr()));
        args.emplace(DNNL_ARG_DST, dnnl::memory({{g.N, M}, dt::f32, tag::ab}, eng, out.data_ptr()));
        if (g.bias) {
            b = b.repeat({g.OH * g.OW});
            args.emplace(DNNL_ARG_BIAS, dnnl::memory({{1, M}, dt::f32, tag::ab}, eng, b.data_ptr()));
        }
    } else {
        args.emplace(DNNL_ARG_SRC, dnnl::memory({{g.N, g.nparts * g.C, g.H, g.W}, dt::bf16, tag::nhwc}, eng, src.data_ptr()));
        args.emplace(DNNL_ARG_DST, dnnl::memory({{g.N, g.O, g.OH, g.OW}, dt::f32, tag::nhwc}, eng, out.data_ptr()));
        if (g.bias) {
            args.emplace(DNNL_ARG_BIAS, dnnl::memory({{g.O}, dt::f32, tag::a}, eng, b.data_ptr()));
        }
    }
    p.prim.execute(strm, args);
    strm.wait();
    return unstrip(key, out);
}
#endif

} // namespace

at::Tensor spike_conv2d_bf16(const at::Tensor & x, const at::Tensor & parts, const at::Tensor & bias,
                             std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                             std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation, const at::Tensor & amp,
                             int levels) {
    const conv_geometry g = geometry_of(x, parts, bias, kernel, stride, padding, dilation);
    const input_levels in = quantum_of(amp, levels).second;
#if SNNKIT_HAVE_DNNL
    try {
        return run_conv(prepare_conv(g, parts), x, bias, in);
    } catch (const dnnl::error & e) {
        fail("spike_conv2d_bf16", std::string("oneDNN: ") + e.what());
    }
#endif
    return at::Tensor();
}

struct spike_conv_bf16_cache::impl {
    struct layer {
        at::Tensor weight, amp; // held: their identity keys the entry
        int64_t weight_version = 0, amp_version = 0;
        int nparts = 3;
        int levels = 1;
        bool int8 = false;
        at::Tensor parts;
        at::Tensor scales; // int8: the parts' scales
        input_levels in; // the packing's levels and 1 / quantum, prepared with the parts
#if SNNKIT_HAVE_DNNL
        std::vector<prepared_conv> convs; // one per input geometry seen
#endif
    };
    std::vector<layer> layers;
    int64_t preparations = 0;
};

spike_conv_bf16_cache::spike_conv_bf16_cache() : p_(std::make_unique<impl>()) {}
spike_conv_bf16_cache::~spike_conv_bf16_cache() = default;

size_t spike_conv_bf16_cache::layers() const { return p_->layers.size(); }
int64_t spike_conv_bf16_cache::preparations() const { return p_->preparations; }

at::Tensor spike_conv_bf16_cache::conv2d(const at::Tensor & x, const at::Tensor & weight, const at::Tensor & amp,
                                         const at::Tensor & bias, std::array<int64_t, 2> kernel,
                                         std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                                         std::array<int64_t, 2> dilation, int nparts, int levels, bool int8) {
    if (int8 && (levels < 1 || levels > spike_int8_max_levels)) {
        fail("spike_conv2d_bf16", "the int8 scheme takes 1.." + std::to_string(spike_int8_max_levels) + " levels, got " +
                                      std::to_string(levels));
    }
    const int64_t wv = tensor_version(weight), av = tensor_version(amp);
    if (wv < 0 || av < 0) { // no version to key on: prepare on every call
        if (!int8) {
            return spike_conv2d_bf16(x, spike_conv_bf16_weight(weight, quantum_of(amp, levels).first, nparts), bias,
                                     kernel, stride, padding, dilation, amp, levels);
        }
        const auto [quantum, in] = quantum_of(amp, levels);
        const auto [parts, scales] = spike_conv_int8_weight(weight, quantum);
        const conv_geometry g = geometry_of(x, parts, bias, kernel, stride, padding, dilation);
#if SNNKIT_HAVE_DNNL
        try {
            return run_conv(prepare_conv(g, parts, scales), x, bias, in);
        } catch (const dnnl::error & e) {
            fail("spike_conv2d_bf16", std::string("oneDNN: ") + e.what());
        }
#endif
        return at::Tensor();
    }
    impl::layer * l = nullptr;
    for (impl::layer & c : p_->layers) {
        if (same_tensor(c.weight, weight) && same_tensor(c.amp, amp) && c.nparts == nparts && c.levels == levels &&
            c.int8 == int8) {
            l = &c;
            break;
        }
    }
    if (l == nullptr) {
        p_->layers.emplace_back();
        l = &p_->layers.back();
        l->weight = weight;
        l->amp = amp;
        l->nparts = nparts;
        l->levels = levels;
        l->int8 = int8;
    }
    if (!l->parts.defined() || l->weight_version != wv || l->amp_version != av) {
        at::Tensor quantum;
        std::tie(quantum, l->in) = quantum_of(amp, levels); // what the packing needs, with the weights
        if (int8) {
            std::tie(l->parts, l->scales) = spike_conv_int8_weight(weight, quantum);
        } else {
            l->parts = spike_conv_bf16_weight(weight, quantum, nparts);
        }
        l->weight_version = wv;
        l->amp_version = av;
#if SNNKIT_HAVE_DNNL
        l->convs.clear();
#endif
        ++p_->preparations;
    }
    const conv_geometry g = geometry_of(x, l->parts, bias, kernel, stride, padding, dilation);
#if SNNKIT_HAVE_DNNL
    try {
        for (const prepared_conv & c : l->convs) {
            if (c.g == g) {
                return run_conv(c, x, bias, l->in);
            }
        }
        l->convs.push_back(prepare_conv(g, l->parts, l->scales));
        return run_conv(l->convs.back(), x, bias, l->in);
    } catch (const dnnl::error & e) {
        fail("spike_conv2d_bf16", std::string("oneDNN: ") + e.what());
    }
#endif
    return at::Tensor();
}

} // namespace snnkit
