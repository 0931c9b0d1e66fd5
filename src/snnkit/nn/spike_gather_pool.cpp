// snnkit/nn/spike_gather_pool.cpp
#include "snnkit/nn/spike_gather_pool.h"

#include "snnkit/core/error.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <string>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) // GCC: #pragma GCC target
#include <immintrin.h>
#define SNNKIT_GATHER_POOL_AVX512 1
#endif

namespace snnkit {

namespace {

// Shapes of one packing: input N x C x H x W (channels last), windows kh x kw, pooled map PH x PW, Cb bytes per
// pooled position, Wp positions per packed row.
struct pool_geometry {
    int64_t N, C, H, W, kh, kw, PH, PW, group, Cb, Wp;
};

namespace portable {

// Pooled row (n, ph): bit c g + dy kw + dx of position pw = [x(n, ph kh + dy, pw kw + dx, c) != 0]; returns the set
// bits.
int64_t pack_row(const pool_geometry & g, const float * x, int64_t n, int64_t ph, uint8_t * dst) {
    int64_t ones = 0;
    for (int64_t pw = 0; pw < g.PW; ++pw, dst += g.Cb) {
        for (int64_t dy = 0; dy < g.kh; ++dy) {
            for (int64_t dx = 0; dx < g.kw; ++dx) {
                const float * px = x + ((n * g.H + ph * g.kh + dy) * g.W + pw * g.kw + dx) * g.C;
                const int64_t s = dy * g.kw + dx;
                for (int64_t c = 0; c < g.C; ++c) {
                    if (px[c] != 0.0f) {
                        const int64_t bit = c * g.group + s;
                        dst[bit >> 3] = static_cast<uint8_t>(dst[bit >> 3] | (1u << (bit & 7)));
                        ++ones;
                    }
                }
            }
        }
    }
    return ones;
}

} // namespace portable

// spread[g][v]: bit k of the byte v moved to bit k g (g = 1 .. 4), so 16 channels' spikes at one window position
// s spread to spread[v & 255] | spread[v >> 8] << 8 g, shifted by s.
struct spread_tables {
    uint32_t t[5][256];
    spread_tables() {
        for (int g = 1; g <= 4; ++g) {
            for (int v = 0; v < 256; ++v) {
                uint32_t r = 0;
                for (int k = 0; k < 8; ++k) {
                    r |= ((static_cast<uint32_t>(v) >> k) & 1u) << (k * g);
                }
                t[g][v] = r;
            }
        }
    }
};

const spread_tables & spreads() {
    static const spread_tables s;
    return s;
}

#ifdef SNNKIT_GATHER_POOL_AVX512
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw")
namespace avx512 {

// portable::pack_row for windows of at most 4 positions (16 channels' bits of a position fit 64 bits): per 16
// channels, one compare per window position and two table lookups spread its 16 bits into the word.
int64_t pack_row(const pool_geometry & g, const float * x, int64_t n, int64_t ph, uint8_t * dst) {
    const uint32_t * spread = spreads().t[g.group];
    const int sh = static_cast<int>(8 * g.group);
    const uint8_t * row_end = dst + g.PW * g.Cb; // this row's last position's end
    int64_t ones = 0;
    for (int64_t pw = 0; pw < g.PW; ++pw, dst += g.Cb) {
        const float * base = x + ((n * g.H + ph * g.kh) * g.W + pw * g.kw) * g.C;
        for (int64_t c = 0; c < g.C; c += 16) {
            const int64_t nc = std::min<int64_t>(16, g.C - c);
            const auto k = static_cast<__mmask16>(nc == 16 ? 0xffffu : (1u << nc) - 1);
            uint64_t word = 0;
            for (int64_t dy = 0; dy < g.kh; ++dy) {
                for (int64_t dx = 0; dx < g.kw; ++dx) {
                    const float * px = base + (dy * g.W + dx) * g.C + c;
                    const uint32_t m =
                        _mm512_mask_cmp_ps_mask(k, _mm512_maskz_loadu_ps(k, px), _mm512_setzero_ps(), _CMP_NEQ_UQ);
                    ones += __builtin_popcount(m);
                    word |= (uint64_t{spread[m & 255u]} | uint64_t{spread[m >> 8]} << sh) << (dy * g.kw + dx);
                }
            }
            // the chunk's bytes; a whole word where the row has room for it (the bytes past the chunk are zero,
            // and later chunks and positions of this row write theirs after it)
            uint8_t * at = dst + c * g.group / 8;
            if (at + 8 <= row_end) {
                std::memcpy(at, &word, 8);
            } else {
                for (int64_t b = 0; b < (nc * g.group + 7) / 8; ++b) {
                    at[b] = static_cast<uint8_t>(word >> (8 * b));
                }
            }
        }
    }
    return ones;
}

} // namespace avx512
#pragma GCC pop_options
#endif

} // namespace

bool spike_gather_pool_fits(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                            std::array<int64_t, 2> padding) {
    const int64_t area = kernel[0] * kernel[1];
    return kernel[0] >= 1 && kernel[1] >= 1 && stride == kernel && padding[0] == 0 && padding[1] == 0 &&
           area <= spike_gather_pool_max_group;
}

int64_t spike_gather_pool_pack_row(const float * x, int64_t W, int64_t C, std::array<int64_t, 2> window, uint8_t * dst,
                                   bool portable) {
    if (!spike_gather_pool_fits(window, window, {0, 0}) || W < window[1] || C < 1) {
        fail("spike_gather_pool_pack_row", "the window does not fit the row");
    }
    pool_geometry g{};
    g.N = 1;
    g.C = C;
    g.H = window[0];
    g.W = W;
    g.kh = window[0];
    g.kw = window[1];
    g.PH = 1;
    g.PW = W / g.kw;
    g.group = g.kh * g.kw;
    g.Cb = (C * g.group + 7) / 8;
    g.Wp = g.PW;
#ifdef SNNKIT_GATHER_POOL_AVX512
    static const bool avx = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    if (avx && !portable && g.group <= 4) {
        return avx512::pack_row(g, x, 0, 0, dst);
    }
#endif
    return portable::pack_row(g, x, 0, 0, dst);
}

spike_bits spike_gather_pool_pack(const at::Tensor & x_in, std::array<int64_t, 2> window, int64_t pad_left,
                                  int64_t pad_right, bool portable) {
    const char * what = "spike_gather_pool_pack";
    if (x_in.dim() != 4 || x_in.scalar_type() != at::kFloat || !x_in.device().is_cpu()) {
        fail(what, "x must be a float CPU tensor [N, C, H, W]");
    }
    if (!spike_gather_pool_fits(window, window, {0, 0})) {
        fail(what, "the window must be 1 to " + std::to_string(spike_gather_pool_max_group) + " positions, got " +
                       std::to_string(window[0]) + " x " + std::to_string(window[1]));
    }
    if (pad_left < 0 || pad_right < 0) {
        fail(what, "padding must be >= 0");
    }
    const at::Tensor x = x_in.contiguous(at::MemoryFormat::ChannelsLast); // [N, H, W, C] in memory
    pool_geometry g{};
    g.N = x.size(0);
    g.C = x.size(1);
    g.H = x.size(2);
    g.W = x.size(3);
    g.kh = window[0];
    g.kw = window[1];
    g.PH = g.H / g.kh;
    g.PW = g.W / g.kw;
    if (g.PH < 1 || g.PW < 1) {
        fail(what, "the input (" + std::to_string(g.H) + " x " + std::to_string(g.W) + ") is smaller than one window");
    }
    g.group = g.kh * g.kw;
    g.Cb = (g.C * g.group + 7) / 8;
    g.Wp = pad_left + g.PW + pad_right;
    spike_bits r;
    r.C = g.C;
    r.pad_left = pad_left;
    r.group = g.group;
    at::Tensor buf = at::zeros({g.N * g.PH * g.Wp * g.Cb + 8}, x.options().dtype(at::kByte));
    r.bits = buf.narrow(0, 0, g.N * g.PH * g.Wp * g.Cb).view({g.N, g.PH, g.Wp, g.Cb});
    const float * xp = x.data_ptr<float>();
    uint8_t * bp = buf.data_ptr<uint8_t>();
#ifdef SNNKIT_GATHER_POOL_AVX512
    static const bool avx = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    const bool vec = avx && !portable && g.group <= 4;
#else
    const bool vec = false;
#endif
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, g.kh * g.W * g.C));
    r.ones = at::parallel_reduce(
        0, g.N * g.PH, grain, int64_t{0},
        [&](int64_t b, int64_t e, int64_t acc) {
            for (int64_t row = b; row < e; ++row) {
                const int64_t n = row / g.PH, ph = row % g.PH;
                uint8_t * dst = bp + (row * g.Wp + pad_left) * g.Cb;
#ifdef SNNKIT_GATHER_POOL_AVX512
                if (vec) {
                    acc += avx512::pack_row(g, xp, n, ph, dst);
                    continue;
                }
#endif
                acc += portable::pack_row(g, xp, n, ph, dst);
            }
            return acc;
        },
        [](int64_t a, int64_t b) { return a + b; });
    return r;
}

} // namespace snnkit
