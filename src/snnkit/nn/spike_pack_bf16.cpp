// snnkit/nn/spike_pack_bf16.cpp
#include "snnkit/nn/spike_pack_bf16.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/spike_conv_bf16.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
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

// The same with levels: each value's q = round(x * inv_q[c]) (a small integer, exact in bfloat16: its float's
// upper 16 bits).
void pack_row_levels_portable(const float * src, int64_t cs, int64_t ws, int64_t C, int64_t W, int copies,
                              const float * inv_q, uint16_t * row) {
    for (int64_t c = 0; c < C; ++c) {
        const float * s = src + c * cs;
        for (int64_t w = 0; w < W; ++w) {
            const float q = std::nearbyint(s[w * ws] * inv_q[c]);
            uint32_t bits = 0;
            std::memcpy(&bits, &q, sizeof bits);
            uint16_t * d = row + w * copies * C + c;
            for (int k = 0; k < copies; ++k) {
                d[k * C] = static_cast<uint16_t>(bits >> 16);
            }
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SNNKIT_PACK_AVX512 1
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl")
// Tiles of 16 channels x 16 positions: one compare per channel gives a 16-bit mask over the positions (lane c of
// a vector of 16-bit lanes); the 16 x 16 bit matrix is then transposed by reading the lanes' top bits
// (movepi16_mask) after shifting position w to the top, which gives position w's mask over the channels; each
// position's 16 bfloat16 values (1 or 0) are one masked store per copy.
void pack_row_avx512(const float * src, int64_t cs, int64_t /*ws = 1*/, int64_t C, int64_t W, int copies, uint16_t * row) {
    const __m256i one = _mm256_set1_epi16(static_cast<short>(bf16_one));
    for (int64_t w0 = 0; w0 < W; w0 += 16) {
        const int64_t nw = std::min<int64_t>(16, W - w0);
        const auto wmask = static_cast<__mmask16>((1u << nw) - 1);
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            const int64_t nc = std::min<int64_t>(16, C - c0);
            alignas(32) uint16_t m[16] = {};
            for (int64_t c = 0; c < nc; ++c) {
                const __m512 v = _mm512_maskz_loadu_ps(wmask, src + (c0 + c) * cs + w0);
                m[c] = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
            }
            const auto cmask = static_cast<__mmask16>((1u << nc) - 1);
            __m256i bits = _mm256_slli_epi16(_mm256_load_si256(reinterpret_cast<const __m256i *>(m)), 16 - static_cast<int>(nw));
            for (int64_t w = nw - 1; w >= 0; --w) { // bit w of every lane at the top, from the last position down
                const __m256i v = _mm256_maskz_mov_epi16(_mm256_movepi16_mask(bits), one);
                bits = _mm256_slli_epi16(bits, 1);
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
// Levels from a channels-last row: 16 channels per step, q = round(x * inv_q) as integers, then as floats whose
// upper 16 bits are the bfloat16 values.
void pack_row_levels_cl_avx512(const float * src, int64_t C, int64_t W, int copies, const float * inv_q, uint16_t * row) {
    for (int64_t w = 0; w < W; ++w) {
        const float * s = src + w * C;
        uint16_t * d = row + w * copies * C;
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            const auto cmask = static_cast<__mmask16>((1u << std::min<int64_t>(16, C - c0)) - 1);
            const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(cmask, s + c0), _mm512_maskz_loadu_ps(cmask, inv_q + c0));
            const __m512i q = _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m512i bits = _mm512_srli_epi32(_mm512_castps_si512(_mm512_cvtepi32_ps(q)), 16);
            const __m256i b16 = _mm512_cvtepi32_epi16(bits);
            for (int k = 0; k < copies; ++k) {
                _mm256_mask_storeu_epi16(d + k * C + c0, cmask, b16);
            }
        }
    }
}
#pragma GCC pop_options
#endif

} // namespace

at::Tensor spike_pack_bf16(const at::Tensor & x_in, const spike_pack_layout & o, bool portable) {
    const char * what = "spike_pack_bf16";
    if (x_in.dim() != 4 || x_in.scalar_type() != at::kFloat || !x_in.device().is_cpu()) {
        fail(what, "x must be a float CPU tensor [N, C, H, W]");
    }
    if (o.copies < 1 || o.copies > 3 || o.strip < 1 || o.gap < 0 || o.levels < 1 || o.levels > spike_pack_max_levels) {
        fail(what, "copies must be 1..3, strip >= 1, gap >= 0 and levels 1.." + std::to_string(spike_pack_max_levels));
    }
    const int64_t C = x_in.size(1);
    std::vector<float> inv_q;
    if (o.levels > 1) {
        if (!o.inv_quantum.defined() || (o.inv_quantum.numel() != 1 && o.inv_quantum.numel() != C)) {
            fail(what, "levels > 1 needs inv_quantum: one value or one per channel (" + std::to_string(C) + ")");
        }
        const at::Tensor iq = o.inv_quantum.detach().to(at::kFloat).reshape({-1}).expand({C}).contiguous();
        inv_q.assign(iq.data_ptr<float>(), iq.data_ptr<float>() + C);
    }
    // the layout as it is when channels last (a spike node behind an AMX convolution gives that) or contiguous;
    // levels go through the channels-last loop, so other inputs become channels last first
    bool cl = !x_in.is_contiguous() && x_in.permute({0, 2, 3, 1}).is_contiguous();
    at::Tensor x = x_in;
    if (o.levels > 1 && !cl && !portable) {
        x = x_in.contiguous(at::MemoryFormat::ChannelsLast);
        cl = x.permute({0, 2, 3, 1}).is_contiguous(); // (false for a [N, 1, H, 1]-like shape: contiguous anyway)
    }
    if (!cl) {
        x = x.contiguous();
    }
    const int64_t N = x.size(0), H = x.size(2), W = x.size(3), k = o.strip, gap = o.gap, copies = o.copies;
    const int64_t G = (N + k - 1) / k, row_w = k * (W + gap);
    at::Tensor out = at::empty({G, H, row_w, copies * C}, x.options().dtype(at::kBFloat16));
    const float * src = x.data_ptr<float>();
    auto * dst = reinterpret_cast<uint16_t *>(out.data_ptr());
    const int64_t cs = cl ? 1 : H * W, ws = cl ? C : 1;
    auto pack_row = [&](const float * s, uint16_t * d) {
#ifdef SNNKIT_PACK_AVX512
        static const bool avx512 = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
        if (!portable && avx512) {
            if (o.levels > 1 && cl) {
                pack_row_levels_cl_avx512(s, C, W, o.copies, inv_q.data(), d);
            } else if (o.levels == 1) {
                (cl ? pack_row_cl_avx512 : pack_row_avx512)(s, cs, ws, C, W, o.copies, d);
            } else {
                pack_row_levels_portable(s, cs, ws, C, W, o.copies, inv_q.data(), d);
            }
            return;
        }
#endif
        if (o.levels > 1) {
            pack_row_levels_portable(s, cs, ws, C, W, o.copies, inv_q.data(), d);
        } else {
            pack_row_portable(s, cs, ws, C, W, o.copies, d);
        }
    };
    at::parallel_for(0, N * H, 1, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
            const int64_t n = r / H, h = r % H;
            const float * row = cl ? src + (n * H + h) * W * C : src + (n * C * H + h) * W;
            const int64_t pos = ((n / k) * H + h) * row_w + (n % k) * (W + gap); // (n / k, h, (n % k) * (W + gap))
            pack_row(row, dst + pos * copies * C);
            std::fill_n(dst + (pos + W) * copies * C, gap * copies * C, uint16_t{0}); // the gap after the image
        }
    });
    // the empty places of the last strip
    const int64_t filled = (N - (G - 1) * k) * (W + gap);
    for (int64_t h = 0; h < H && G * k > N; ++h) {
        std::fill_n(dst + (((G - 1) * H + h) * row_w + filled) * copies * C, (row_w - filled) * copies * C, uint16_t{0});
    }
    return out;
}

at::Tensor spike_conv_bf16_pack(const at::Tensor & x, int copies, bool portable) {
    spike_pack_layout o; // spike_pack_bf16 checks x and copies
    o.copies = copies;
    return spike_pack_bf16(x, o, portable);
}

} // namespace snnkit
