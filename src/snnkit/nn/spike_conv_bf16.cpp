// snnkit/nn/spike_conv_bf16.cpp
#include "snnkit/nn/spike_conv_bf16.h"

#include "snnkit/core/error.h"

#include <ATen/Parallel.h>

#if SNNKIT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include <algorithm>
#include <cstdint>
#include <string>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#endif

namespace snnkit {

namespace {

constexpr uint16_t bf16_one = 0x3F80; // 1.0 in bfloat16

// One row (n, h) of the packing below: src points at x[n, 0, h, 0] (channel stride cs), row at out[n, h, 0, 0].
void pack_row_portable(const float * src, int64_t cs, int64_t C, int64_t W, uint16_t * row) {
    for (int64_t c = 0; c < C; ++c) {
        const float * s = src + c * cs;
        for (int64_t w = 0; w < W; ++w) {
            const uint16_t v = s[w] != 0.0f ? bf16_one : 0;
            uint16_t * d = row + w * 3 * C + c;
            d[0] = v;
            d[C] = v;
            d[2 * C] = v;
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SNNKIT_PACK_AVX512 1
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl")
// Tiles of 16 channels x 16 positions: one compare per channel gives a 16-bit mask over the positions, the masks
// are transposed bit by bit into one 16-bit mask over the channels per position, and each position's 16
// bfloat16 values (1 or 0) are one masked store per copy.
void pack_row_avx512(const float * src, int64_t cs, int64_t C, int64_t W, uint16_t * row) {
    const __m256i one = _mm256_set1_epi16(static_cast<short>(bf16_one));
    for (int64_t w0 = 0; w0 < W; w0 += 16) {
        const int64_t nw = std::min<int64_t>(16, W - w0);
        const auto wmask = static_cast<__mmask16>((1u << nw) - 1);
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            const int64_t nc = std::min<int64_t>(16, C - c0);
            uint32_t m[16];
            for (int64_t c = 0; c < nc; ++c) {
                const __m512 v = _mm512_maskz_loadu_ps(wmask, src + (c0 + c) * cs + w0);
                m[c] = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
            }
            const auto cmask = static_cast<__mmask16>((1u << nc) - 1);
            for (int64_t w = 0; w < nw; ++w) {
                uint32_t mw = 0;
                for (int64_t c = 0; c < nc; ++c) {
                    mw |= ((m[c] >> w) & 1u) << c;
                }
                const __m256i v = _mm256_maskz_mov_epi16(static_cast<__mmask16>(mw), one);
                uint16_t * d = row + (w0 + w) * 3 * C + c0;
                _mm256_mask_storeu_epi16(d, cmask, v);
                _mm256_mask_storeu_epi16(d + C, cmask, v);
                _mm256_mask_storeu_epi16(d + 2 * C, cmask, v);
            }
        }
    }
}
#pragma GCC pop_options
#endif

// [N, C, H, W] float -> [N, H, W, 3C] bfloat16 holding 1 where x != 0 and 0 elsewhere, the C channels written three
// times (the three weight parts' inputs), channels last as oneDNN's AMX convolution reads them.
at::Tensor pack_spikes_bf16(const at::Tensor & x_in) {
    const at::Tensor x = x_in.contiguous();
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    at::Tensor out = at::empty({N, H, W, 3 * C}, x.options().dtype(at::kBFloat16));
    const float * src = x.data_ptr<float>();
    auto * dst = reinterpret_cast<uint16_t *>(out.data_ptr());
    auto pack_row = pack_row_portable;
#ifdef SNNKIT_PACK_AVX512
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
        pack_row = pack_row_avx512;
    }
#endif
    at::parallel_for(0, N * H, 1, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
            const int64_t n = r / H, h = r % H;
            pack_row(src + (n * C * H + h) * W, H * W, C, W, dst + r * W * 3 * C);
        }
    });
    return out;
}

} // namespace

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

at::Tensor spike_conv_bf16_weight(const at::Tensor & weight, const at::Tensor & amp) {
    if (weight.dim() != 4) {
        fail("spike_conv_bf16_weight", "weight must be [O, C, kh, kw], got " + std::to_string(weight.dim()) + " dims");
    }
    const int64_t C = weight.size(1);
    at::Tensor w = weight.detach().to(at::kFloat).contiguous();
    if (amp.defined()) {
        if (amp.dim() == 0 || amp.numel() == 1) {
            w = w * amp.detach().to(at::kFloat).reshape({});
        } else if (amp.numel() == C) {
            w = w * amp.detach().to(at::kFloat).reshape({1, C, 1, 1});
        } else {
            fail("spike_conv_bf16_weight", "amplitude has " + std::to_string(amp.numel()) + " values for " +
                                               std::to_string(C) + " input channels");
        }
    }
    // a float's 24 significant bits in three bfloat16 parts of 8: each remainder is exact in float
    const at::Tensor w1 = w.to(at::kBFloat16);
    const at::Tensor r1 = w - w1.to(at::kFloat);
    const at::Tensor w2 = r1.to(at::kBFloat16);
    const at::Tensor w3 = (r1 - w2.to(at::kFloat)).to(at::kBFloat16);
    return at::cat({w1, w2, w3}, 1).contiguous();
}

at::Tensor spike_conv2d_bf16(const at::Tensor & x, const at::Tensor & parts, const at::Tensor & bias,
                             std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                             std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation) {
    const char * what = "spike_conv2d_bf16";
    if (!spike_conv_bf16_available()) {
        fail(what, "needs snnkit built with oneDNN (libdnnl-dev) and a CPU with AMX-BF16");
    }
    if (x.dim() != 4 || x.scalar_type() != at::kFloat || !x.device().is_cpu()) {
        fail(what, "x must be a float CPU tensor [N, C, H, W]");
    }
    if (parts.dim() != 4 || parts.scalar_type() != at::kBFloat16 || parts.size(1) != 3 * x.size(1) ||
        parts.size(2) != kernel[0] || parts.size(3) != kernel[1]) {
        fail(what, "weight parts must be spike_conv_bf16_weight's [O, 3C, kh, kw] for C = " + std::to_string(x.size(1)));
    }
#if SNNKIT_HAVE_DNNL
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const int64_t N = x.size(0), C3 = 3 * x.size(1), H = x.size(2), W = x.size(3), O = parts.size(0);
    const int64_t OH = (H + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) / stride[0] + 1;
    const int64_t OW = (W + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) / stride[1] + 1;
    if (OH < 1 || OW < 1) {
        fail(what, "the input is smaller than the kernel");
    }
    // PyTorch pads both sides by `padding`; oneDNN wants the right/bottom padding that gives the same output size
    const int64_t pr_h = (OH - 1) * stride[0] + (kernel[0] - 1) * dilation[0] + 1 - H - padding[0];
    const int64_t pr_w = (OW - 1) * stride[1] + (kernel[1] - 1) * dilation[1] + 1 - W - padding[1];
    const at::Tensor src = pack_spikes_bf16(x);
    const at::Tensor w = parts.contiguous();
    const at::Tensor b = bias.defined() ? bias.detach().to(at::kFloat).contiguous() : at::Tensor();
    at::Tensor out = at::empty({N, OH, OW, O}, x.options());
    try {
        static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
        dnnl::stream strm(eng);
        const dnnl::memory::desc src_md({N, C3, H, W}, dt::bf16, tag::nhwc);
        const dnnl::memory::desc wei_md({O, C3, kernel[0], kernel[1]}, dt::bf16, tag::any);
        const dnnl::memory::desc dst_md({N, O, OH, OW}, dt::f32, tag::nhwc);
        const dnnl::memory::desc bias_md = b.defined() ? dnnl::memory::desc({O}, dt::f32, tag::a) : dnnl::memory::desc();
        const dnnl::convolution_forward::desc d(
            dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md, wei_md, bias_md, dst_md,
            {stride[0], stride[1]}, {dilation[0] - 1, dilation[1] - 1}, {padding[0], padding[1]}, {pr_h, pr_w});
        const dnnl::convolution_forward::primitive_desc pd(d, eng);
        dnnl::memory wplain({{O, C3, kernel[0], kernel[1]}, dt::bf16, tag::oihw}, eng, w.data_ptr());
        dnnl::memory wmem = wplain;
        at::Tensor wbuf; // the weights in the primitive's blocked layout
        if (pd.weights_desc() != wplain.get_desc()) {
            wbuf = at::empty({static_cast<int64_t>(pd.weights_desc().get_size())}, x.options().dtype(at::kByte));
            wmem = dnnl::memory(pd.weights_desc(), eng, wbuf.data_ptr());
            dnnl::reorder(wplain, wmem).execute(strm, wplain, wmem);
        }
        dnnl::memory smem(src_md, eng, src.data_ptr());
        dnnl::memory dmem(dst_md, eng, out.data_ptr());
        std::unordered_map<int, dnnl::memory> args{
            {DNNL_ARG_SRC, smem}, {DNNL_ARG_WEIGHTS, wmem}, {DNNL_ARG_DST, dmem}};
        if (b.defined()) {
            args.emplace(DNNL_ARG_BIAS, dnnl::memory(bias_md, eng, b.data_ptr()));
        }
        dnnl::convolution_forward(pd).execute(strm, args);
        strm.wait();
    } catch (const dnnl::error & e) {
        fail(what, std::string("oneDNN: ") + e.what());
    }
    return out.permute({0, 3, 1, 2}); // [N, O, OH, OW] with channels-last strides
#else
    return at::Tensor();
#endif
}

} // namespace snnkit
