// snnkit/nn/spike_gather_table.cpp
#include "snnkit/nn/spike_gather_table.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/graph.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <string>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) // GCC: #pragma GCC target
#include <immintrin.h>
#define SNNKIT_TABLE_AVX512 1
#endif

namespace snnkit {

namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// The table [kh, 256, span, Op]: entry (i, v, b) for value v of byte b of kernel row i's span.
using table_geometry = spike_gather_shape;

namespace portable {

// Output rows r0..r1 of [N * OH]: per position bias + one table row per byte of its kernel rows, summed into two
// running sums by the byte's parity in the position's sequence (as the vector kernel does), added at the end.
void conv_rows(const table_geometry & g, const uint8_t * bits, const float * table, const float * bias, int64_t r0,
               int64_t r1, float * out) {
    const int64_t span = g.kw * g.Cb;
    std::vector<float> a0(static_cast<size_t>(g.Op)), a1(static_cast<size_t>(g.Op));
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / g.OH, oh = r % g.OH;
        for (int64_t ow = 0; ow < g.OW; ++ow) {
            std::copy(bias, bias + g.Op, a0.begin());
            std::fill(a1.begin(), a1.end(), 0.0f);
            int64_t k = 0;
            for (int64_t i = 0; i < g.kh; ++i) {
                const int64_t ih = oh * g.sh - g.ph + i;
                if (ih < 0 || ih >= g.H) {
                    continue;
                }
                const uint8_t * s = bits + ((n * g.H + ih) * g.Wp + ow * g.sw) * g.Cb;
                const float * t = table + i * 256 * span * g.Op;
                for (int64_t b = 0; b < span; ++b, ++k) {
                    const float * row = t + (s[b] * span + b) * g.Op;
                    std::vector<float> & a = (k & 1) ? a1 : a0;
                    for (int64_t o = 0; o < g.Op; ++o) {
                        a[static_cast<size_t>(o)] += row[o];
                    }
                }
            }
            float * dst = out + (r * g.OW + ow) * g.O;
            for (int64_t o = 0; o < g.O; ++o) {
                dst[o] = a0[static_cast<size_t>(o)] + a1[static_cast<size_t>(o)];
            }
        }
    }
}

} // namespace portable

#ifdef SNNKIT_TABLE_AVX512
#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {

// The same sums, V vectors of outputs at a time.
template <int V>
void conv_rows_v(const table_geometry & g, const uint8_t * bits, const float * table, const float * bias, int64_t r0,
                 int64_t r1, float * out) {
    const int64_t span = g.kw * g.Cb;
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / g.OH, oh = r % g.OH;
        for (int64_t ow = 0; ow < g.OW; ++ow) {
            for (int64_t o0 = 0; o0 < g.Op; o0 += 16 * V) {
                __m512 a0[V], a1[V];
                for (int v = 0; v < V; ++v) {
                    a0[v] = _mm512_loadu_ps(bias + o0 + 16 * v);
                    a1[v] = _mm512_setzero_ps();
                }
                int64_t k = 0;
                for (int64_t i = 0; i < g.kh; ++i) {
                    const int64_t ih = oh * g.sh - g.ph + i;
                    if (ih < 0 || ih >= g.H) {
                        continue;
                    }
                    const uint8_t * s = bits + ((n * g.H + ih) * g.Wp + ow * g.sw) * g.Cb;
                    const float * t = table + i * 256 * span * g.Op + o0;
                    int64_t b = 0;
                    if (k & 1) { // keep the parity of the portable loop's sequence
                        const float * row = t + s[0] * span * g.Op;
                        for (int v = 0; v < V; ++v) {
                            a1[v] = _mm512_add_ps(a1[v], _mm512_loadu_ps(row + 16 * v));
                        }
                        b = 1;
                    }
                    for (; b + 1 < span; b += 2) {
                        const float * p = t + (s[b] * span + b) * g.Op;
                        const float * q = t + (s[b + 1] * span + b + 1) * g.Op;
                        for (int v = 0; v < V; ++v) {
                            a0[v] = _mm512_add_ps(a0[v], _mm512_loadu_ps(p + 16 * v));
                            a1[v] = _mm512_add_ps(a1[v], _mm512_loadu_ps(q + 16 * v));
                        }
                    }
                    if (b < span) {
                        const float * p = t + (s[b] * span + b) * g.Op;
                        for (int v = 0; v < V; ++v) {
                            a0[v] = _mm512_add_ps(a0[v], _mm512_loadu_ps(p + 16 * v));
                        }
                    }
                    k += span;
                }
                float * dst = out + (r * g.OW + ow) * g.O;
                for (int v = 0; v < V; ++v) {
                    const int64_t o = o0 + 16 * v;
                    const __m512 sum = _mm512_add_ps(a0[v], a1[v]);
                    if (o + 16 <= g.O) {
                        _mm512_storeu_ps(dst + o, sum);
                    } else if (o < g.O) {
                        _mm512_mask_storeu_ps(dst + o, static_cast<__mmask16>((1u << (g.O - o)) - 1), sum);
                    }
                }
            }
        }
    }
}

void conv_rows(const table_geometry & g, const uint8_t * bits, const float * table, const float * bias, int64_t r0,
               int64_t r1, float * out) {
    const int64_t nv = g.Op / 16;
    if (nv % 4 == 0) {
        conv_rows_v<4>(g, bits, table, bias, r0, r1, out);
    } else if (nv % 2 == 0) {
        conv_rows_v<2>(g, bits, table, bias, r0, r1, out);
    } else {
        conv_rows_v<1>(g, bits, table, bias, r0, r1, out);
    }
}

} // namespace avx512
#pragma GCC pop_options
#endif

} // namespace

int64_t spike_gather_table_bytes(int64_t C, int64_t O, int64_t kh, int64_t kw) {
    return kh * kw * round_up(C, 8) / 8 * 256 * round_up(O, 16) * static_cast<int64_t>(sizeof(float));
}

at::Tensor spike_gather_table(const at::Tensor & rows_in) {
    if (rows_in.dim() != 3 || rows_in.scalar_type() != at::kFloat || rows_in.size(1) % 8 != 0) {
        fail("spike_gather_table", "rows must be spike_gather_rows' [kh, kw * Cp, Op] float");
    }
    const at::Tensor rows = rows_in.contiguous();
    const int64_t kh = rows.size(0), bytes = rows.size(1) / 8, Op = rows.size(2);
    at::Tensor table = at::empty({kh, 256, bytes, Op}, rows.options());
    const float * rp = rows.data_ptr<float>();
    float * tp = table.data_ptr<float>();
    at::parallel_for(0, kh * bytes, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t ib = b0; ib < b1; ++ib) { // (kernel row, byte): rows 8 b .. 8 b + 7 of that kernel row
            const int64_t i = ib / bytes, b = ib % bytes;
            const float * r = rp + ib * 8 * Op;
            float * t = tp + (i * 256 * bytes + b) * Op; // value v at t + v * bytes * Op
            std::fill(t, t + Op, 0.0f);
            for (int64_t v = 1; v < 256; ++v) { // v = (v without its highest bit) + that bit's row
                const int hi = 31 - __builtin_clz(static_cast<unsigned>(v));
                const float * base = t + (v & ~(int64_t{1} << hi)) * bytes * Op;
                const float * add = r + hi * Op;
                float * dst = t + v * bytes * Op;
                for (int64_t o = 0; o < Op; ++o) {
                    dst[o] = base[o] + add[o];
                }
            }
        }
    });
    return table;
}

at::Tensor spike_gather_conv2d_table(const spike_bits & x, int64_t H, int64_t W, const at::Tensor & table_in,
                                     int64_t O, const at::Tensor & bias_in, std::array<int64_t, 2> kernel,
                                     std::array<int64_t, 2> stride, std::array<int64_t, 2> padding, bool portable) {
    const char * what = "spike_gather_conv2d_table";
    const table_geometry g = spike_gather_shape_of(x, H, W, O, kernel, stride, padding, what);
    if (table_in.dim() != 4 || table_in.scalar_type() != at::kFloat || table_in.size(0) != kernel[0] ||
        table_in.size(1) != 256 || table_in.size(2) != kernel[1] * g.Cb || table_in.size(3) != g.Op) {
        fail(what, "table must be spike_gather_table's [kh, 256, kw * Cp / 8, Op] for this kernel, C and O");
    }
    const at::Tensor table = table_in.contiguous();
    const at::Tensor bias = spike_gather_bias(bias_in, O, g.Op, what);
    at::Tensor out = at::empty({g.N, g.OH, g.OW, O}, table.options());
    const uint8_t * bp = x.bits.data_ptr<uint8_t>();
    const float * tp = table.data_ptr<float>();
    const float * biasp = bias.data_ptr<float>();
    float * op = out.data_ptr<float>();
#ifdef SNNKIT_TABLE_AVX512
    static const bool avx = __builtin_cpu_supports("avx512f");
    const bool vec = avx && !portable;
#endif
    at::parallel_for(0, g.N * g.OH, 1, [&](int64_t r0, int64_t r1) {
#ifdef SNNKIT_TABLE_AVX512
        if (vec) {
            avx512::conv_rows(g, bp, tp, biasp, r0, r1, op);
            return;
        }
#endif
        portable::conv_rows(g, bp, tp, biasp, r0, r1, op);
    });
    return out.permute({0, 3, 1, 2});
}

} // namespace snnkit
