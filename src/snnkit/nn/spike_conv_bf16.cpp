// snnkit/nn/spike_conv_bf16.cpp
#include "snnkit/nn/spike_conv_bf16.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/graph.h"

#include <ATen/Parallel.h>

#if SNNKIT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#endif

namespace snnkit {

namespace {

constexpr uint16_t bf16_one = 0x3F80; // 1.0 in bfloat16

// One row (n, h) of the packing below: src points at x[n, 0, h, 0] (channel stride cs, position stride ws), row at
// out[n, h, 0, 0]. The row holds, per position, the C indicators `copies` times (one copy per weight part).
void pack_row_portable(const float * src, int64_t cs, int64_t ws, int64_t C, int64_t W, int copies, uint16_t * row) {
    for (int64_t c = 0; c < C; ++c) {
        const float * s = src + c * cs;
        for (int64_t w = 0; w < W; ++w) {
            const uint16_t v = s[w * ws] != 0.0f ? bf16_one : 0;
            uint16_t * d = row + w * copies * C + c;
            for (int k = 0; k < copies; ++k) {
                d[k * C] = v;
            }
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
void pack_row_avx512(const float * src, int64_t cs, int64_t /*ws = 1*/, int64_t C, int64_t W, int copies, uint16_t * row) {
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
                uint16_t * d = row + (w0 + w) * copies * C + c0;
                for (int k = 0; k < copies; ++k) {
                    _mm256_mask_storeu_epi16(d + k * C, cmask, v);
                }
            }
        }
    }
}

// The same from a channels-last row (cs = 1, ws = C): 16 channels per compare, stored as they are.
void pack_row_cl_avx512(const float * src, int64_t /*cs = 1*/, int64_t /*ws = C*/, int64_t C, int64_t W, int copies,
                        uint16_t * row) {
    const __m256i one = _mm256_set1_epi16(static_cast<short>(bf16_one));
    for (int64_t w = 0; w < W; ++w) {
        const float * s = src + w * C;
        uint16_t * d = row + w * copies * C;
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            const auto cmask = static_cast<__mmask16>((1u << std::min<int64_t>(16, C - c0)) - 1);
            const __mmask16 m = _mm512_mask_cmp_ps_mask(cmask, _mm512_maskz_loadu_ps(cmask, s + c0), _mm512_setzero_ps(),
                                                        _CMP_NEQ_UQ);
            const __m256i v = _mm256_maskz_mov_epi16(m, one);
            for (int k = 0; k < copies; ++k) {
                _mm256_mask_storeu_epi16(d + k * C + c0, cmask, v);
            }
        }
    }
}
#pragma GCC pop_options
#endif

// [N, C, H, W] float -> [N, H, W, copies*C] bfloat16 holding 1 where x != 0 and 0 elsewhere, the C channels written
// once per weight part, channels last as oneDNN's AMX convolution reads them. x may be contiguous or channels last
// (a spike node fed by an AMX convolution gives that); any other layout is made contiguous first.
at::Tensor pack_spikes_bf16(const at::Tensor & x_in, int copies, bool portable) {
    const bool cl = !x_in.is_contiguous() && x_in.permute({0, 2, 3, 1}).is_contiguous();
    const at::Tensor x = cl ? x_in : x_in.contiguous();
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    at::Tensor out = at::empty({N, H, W, copies * C}, x.options().dtype(at::kBFloat16));
    const float * src = x.data_ptr<float>();
    auto * dst = reinterpret_cast<uint16_t *>(out.data_ptr());
    auto pack_row = pack_row_portable;
#ifdef SNNKIT_PACK_AVX512
    if (!portable && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
        pack_row = cl ? pack_row_cl_avx512 : pack_row_avx512;
    }
#endif
    const int64_t cs = cl ? 1 : H * W, ws = cl ? C : 1;
    at::parallel_for(0, N * H, 1, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
            const int64_t n = r / H, h = r % H;
            const float * row = cl ? src + (n * H + h) * W * C : src + (n * C * H + h) * W;
            pack_row(row, cs, ws, C, W, copies, dst + r * W * copies * C);
        }
    });
    return out;
}

} // namespace

at::Tensor spike_conv_bf16_pack(const at::Tensor & x, int copies, bool portable) {
    if (x.dim() != 4 || x.scalar_type() != at::kFloat || copies < 1 || copies > 3) {
        fail("spike_conv_bf16_pack", "x must be float [N, C, H, W] and copies 1..3");
    }
    return pack_spikes_bf16(x, copies, portable);
}

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

bool spike_conv_bf16_wins(const at::Tensor & x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                          std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation) {
    return x.dim() == 4 && conv_out_extent(x.size(3), kernel[1], stride[1], padding[1], dilation[1]) >= 8;
}

at::Tensor spike_conv_bf16_weight(const at::Tensor & weight, const at::Tensor & amp, int nparts) {
    const char * what = "spike_conv_bf16_weight";
    if (weight.dim() != 4) {
        fail(what, "weight must be [O, C, kh, kw], got " + std::to_string(weight.dim()) + " dims");
    }
    if (nparts < 1 || nparts > 3) {
        fail(what, "parts must be 1, 2 or 3, got " + std::to_string(nparts));
    }
    const int64_t C = weight.size(1);
    at::Tensor w = weight.detach().to(at::kFloat).contiguous();
    if (amp.defined()) {
        if (amp.dim() == 0 || amp.numel() == 1) {
            w = w * amp.detach().to(at::kFloat).reshape({});
        } else if (amp.numel() == C) {
            w = w * amp.detach().to(at::kFloat).reshape({1, C, 1, 1});
        } else {
            fail(what, "amplitude has " + std::to_string(amp.numel()) + " values for " + std::to_string(C) +
                           " input channels");
        }
    }
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
    bool bias = false;
    std::array<int64_t, 2> kernel{}, stride{}, padding{}, dilation{}, pad_end{};

    bool operator==(const conv_geometry & o) const {
        return N == o.N && C == o.C && H == o.H && W == o.W && O == o.O && nparts == o.nparts && bias == o.bias &&
               kernel == o.kernel && stride == o.stride && padding == o.padding && dilation == o.dilation;
    }
};

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
    if (parts.dim() != 4 || parts.scalar_type() != at::kBFloat16 || C < 1 || parts.size(1) % C != 0 ||
        parts.size(1) / C < 1 || parts.size(1) / C > 3 || parts.size(2) != kernel[0] || parts.size(3) != kernel[1]) {
        fail(what, "weight parts must be spike_conv_bf16_weight's [O, k*C, kh, kw] (k = 1..3) for C = " +
                       std::to_string(C));
    }
    conv_geometry g;
    g.N = x.size(0);
    g.C = C;
    g.H = x.size(2);
    g.W = x.size(3);
    g.O = parts.size(0);
    g.nparts = static_cast<int>(parts.size(1) / C);
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
    return g;
}

#if SNNKIT_HAVE_DNNL
const dnnl::engine & cpu_engine() {
    static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    return eng;
}

// One geometry's oneDNN convolution, with the weight parts in the layout it reads.
struct prepared_conv {
    conv_geometry g;
    dnnl::convolution_forward prim;
    dnnl::memory wmem;
    at::Tensor wbuf; // owns wmem's storage (the plain parts when the primitive reads them as they are)
};

prepared_conv prepare_conv(const conv_geometry & g, const at::Tensor & parts_in) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::engine & eng = cpu_engine();
    const int64_t CK = g.nparts * g.C;
    const dnnl::memory::desc src_md({g.N, CK, g.H, g.W}, dt::bf16, tag::nhwc);
    const dnnl::memory::desc wei_md({g.O, CK, g.kernel[0], g.kernel[1]}, dt::bf16, tag::any);
    const dnnl::memory::desc dst_md({g.N, g.O, g.OH, g.OW}, dt::f32, tag::nhwc);
    const dnnl::memory::desc bias_md = g.bias ? dnnl::memory::desc({g.O}, dt::f32, tag::a) : dnnl::memory::desc();
    const dnnl::convolution_forward::desc d(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md, wei_md, bias_md, dst_md,
        {g.stride[0], g.stride[1]}, {g.dilation[0] - 1, g.dilation[1] - 1}, {g.padding[0], g.padding[1]},
        {g.pad_end[0], g.pad_end[1]});
    const dnnl::convolution_forward::primitive_desc pd(d, eng);
    prepared_conv p;
    p.g = g;
    p.prim = dnnl::convolution_forward(pd);
    const at::Tensor parts = parts_in.contiguous();
    dnnl::memory wplain({{g.O, CK, g.kernel[0], g.kernel[1]}, dt::bf16, tag::oihw}, eng, parts.data_ptr());
    if (pd.weights_desc() == wplain.get_desc()) {
        p.wbuf = parts;
        p.wmem = wplain;
    } else {
        p.wbuf = at::empty({static_cast<int64_t>(pd.weights_desc().get_size())}, parts.options().dtype(at::kByte));
        p.wmem = dnnl::memory(pd.weights_desc(), eng, p.wbuf.data_ptr());
        dnnl::stream strm(eng);
        dnnl::reorder(wplain, p.wmem).execute(strm, wplain, p.wmem);
        strm.wait();
    }
    return p;
}

at::Tensor run_conv(const prepared_conv & p, const at::Tensor & x, const at::Tensor & bias) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const conv_geometry & g = p.g;
    const dnnl::engine & eng = cpu_engine();
    const at::Tensor src = pack_spikes_bf16(x, g.nparts, false);
    const at::Tensor b = g.bias ? bias.detach().to(at::kFloat).contiguous() : at::Tensor();
    at::Tensor out = at::empty({g.N, g.OH, g.OW, g.O}, x.options());
    dnnl::stream strm(eng);
    dnnl::memory smem({{g.N, g.nparts * g.C, g.H, g.W}, dt::bf16, tag::nhwc}, eng, src.data_ptr());
    dnnl::memory dmem({{g.N, g.O, g.OH, g.OW}, dt::f32, tag::nhwc}, eng, out.data_ptr());
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, smem}, {DNNL_ARG_WEIGHTS, p.wmem}, {DNNL_ARG_DST, dmem}};
    if (g.bias) {
        args.emplace(DNNL_ARG_BIAS, dnnl::memory({{g.O}, dt::f32, tag::a}, eng, b.data_ptr()));
    }
    p.prim.execute(strm, args);
    strm.wait();
    return out.permute({0, 3, 1, 2}); // [N, O, OH, OW] with channels-last strides
}
#endif

// The version of t's data (bumped by every in-place change); -1 for tensors without one (inference tensors).
int64_t version_of(const at::Tensor & t) {
    if (!t.defined()) {
        return 0;
    }
    if (t.is_inference()) {
        return -1;
    }
    return static_cast<int64_t>(t._version());
}

} // namespace

at::Tensor spike_conv2d_bf16(const at::Tensor & x, const at::Tensor & parts, const at::Tensor & bias,
                             std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                             std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation) {
    const conv_geometry g = geometry_of(x, parts, bias, kernel, stride, padding, dilation);
#if SNNKIT_HAVE_DNNL
    try {
        return run_conv(prepare_conv(g, parts), x, bias);
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
        at::Tensor parts;
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
                                         std::array<int64_t, 2> dilation, int nparts) {
    const int64_t wv = version_of(weight), av = version_of(amp);
    if (wv < 0 || av < 0) { // no version to key on: prepare on every call
        return spike_conv2d_bf16(x, spike_conv_bf16_weight(weight, amp, nparts), bias, kernel, stride, padding, dilation);
    }
    auto same = [](const at::Tensor & a, const at::Tensor & b) {
        return a.defined() == b.defined() && (!a.defined() || a.unsafeGetTensorImpl() == b.unsafeGetTensorImpl());
    };
    impl::layer * l = nullptr;
    for (impl::layer & c : p_->layers) {
        if (same(c.weight, weight) && same(c.amp, amp) && c.nparts == nparts) {
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
    }
    if (!l->parts.defined() || l->weight_version != wv || l->amp_version != av) {
        l->parts = spike_conv_bf16_weight(weight, amp, nparts);
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
                return run_conv(c, x, bias);
            }
        }
        l->convs.push_back(prepare_conv(g, l->parts));
        return run_conv(l->convs.back(), x, bias);
    } catch (const dnnl::error & e) {
        fail("spike_conv2d_bf16", std::string("oneDNN: ") + e.what());
    }
#endif
    return at::Tensor();
}

} // namespace snnkit
