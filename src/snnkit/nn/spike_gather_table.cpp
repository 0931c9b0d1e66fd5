// snnkit/nn/spike_gather_table.cpp
#include "snnkit/nn/spike_gather_table.h"

#include "snnkit/core/error.h"
#include "snnkit/core/parallel_chunks.h"
#include "snnkit/nn/graph.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <string>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) // GCC: #pragma GCC target
#include <immintrin.h>
#define SNNKIT_TABLE_AVX512 1
#endif

namespace snnkit {

namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// The table [kh, 256, span, Op]: entry (i, v, b) for value v of byte b of kernel row i's span.
using table_geometry = spike_gather_shape;

// Positions of one output row whose table offsets the vector kernel computes before it sums them.
constexpr int64_t table_block_positions = 16;

namespace portable {

// Output rows r0..r1 of [N * OH]: per position the bias plus one table row per byte of its kernel rows inside the
// map (kernel row by kernel row, byte by byte), summed as the vector kernel does: four running sums (row j into sum
// j mod 4, the bias starting sum 0), added as (s0 + s1) + (s2 + s3).
void table_rows(const table_geometry & g, const uint8_t * bits, const float * table, const float * bias, int64_t r0,
               int64_t r1, float * out) {
    const int64_t span = g.kw * g.Cb, per_value = span * g.Op;
    std::vector<float> a(static_cast<size_t>(4 * g.Op));
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / g.OH, oh = r % g.OH;
        for (int64_t ow = 0; ow < g.OW; ++ow) {
            std::copy(bias, bias + g.Op, a.begin());
            std::fill(a.begin() + g.Op, a.end(), 0.0f);
            int64_t j = 0;
            for (int64_t i = 0; i < g.kh; ++i) {
                const int64_t ih = oh * g.sh - g.ph + i;
                if (ih < 0 || ih >= g.H) {
                    continue; // the zero padding above and below
                }
                const uint8_t * s = bits + ((n * g.H + ih) * g.Wp + ow * g.sw) * g.Cb;
                for (int64_t b = 0; b < span; ++b, ++j) {
                    const float * row = table + i * 256 * per_value + s[b] * per_value + b * g.Op;
                    float * acc = a.data() + (j & 3) * g.Op;
                    for (int64_t o = 0; o < g.Op; ++o) {
                        acc[o] += row[o];
                    }
                }
            }
            float * dst = out + (r * g.OW + ow) * g.O;
            for (int64_t o = 0; o < g.O; ++o) {
                dst[o] = (a[static_cast<size_t>(o)] + a[static_cast<size_t>(g.Op + o)]) +
                         (a[static_cast<size_t>(2 * g.Op + o)] + a[static_cast<size_t>(3 * g.Op + o)]);
            }
        }
    }
}

} // namespace portable

#ifdef SNNKIT_TABLE_AVX512
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl")
namespace avx512 {

// The same sums. Per output row, a block of positions' table offsets (floats from the table's start) first: a
// kernel row's span of bytes (16 at a time) widened to 16 offsets byte value * span Op + byte * Op + the kernel
// row's base by a few vector instructions, instead of a scalar loop per byte; then each position's sum, V vectors
// of outputs at a time.
template <int V>
void table_rows_v(const table_geometry & g, const uint8_t * bits, const float * table, const float * bias, int64_t r0,
                 int64_t r1, float * out) {
    const int64_t span = g.kw * g.Cb, per_value = span * g.Op;
    const int64_t chunks = (span + 15) / 16, stride = g.kh * chunks * 16; // offsets per position, with room
    std::vector<int32_t> offs(static_cast<size_t>(table_block_positions * stride + 16));
    const __m512i lane_op = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                               _mm512_set1_epi32(static_cast<int32_t>(g.Op)));
    const __m512i pv = _mm512_set1_epi32(static_cast<int32_t>(per_value));
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / g.OH, oh = r % g.OH;
        for (int64_t ow0 = 0; ow0 < g.OW; ow0 += table_block_positions) {
            const int64_t np = std::min<int64_t>(table_block_positions, g.OW - ow0);
            int64_t cnt = 0; // offsets per position: the same for every position of the row
            for (int64_t i = 0; i < g.kh; ++i) {
                const int64_t ih = oh * g.sh - g.ph + i;
                if (ih < 0 || ih >= g.H) {
                    continue;
                }
                const uint8_t * row = bits + ((n * g.H + ih) * g.Wp + ow0 * g.sw) * g.Cb;
                for (int64_t c = 0; c < chunks; ++c) {
                    const int64_t len = std::min<int64_t>(16, span - 16 * c);
                    const auto m = static_cast<__mmask16>((1u << len) - 1);
                    const __m512i base = _mm512_add_epi32(
                        lane_op, _mm512_set1_epi32(static_cast<int32_t>(i * 256 * per_value + 16 * c * g.Op)));
                    for (int64_t k = 0; k < np; ++k) {
                        const __m128i v = _mm_maskz_loadu_epi8(m, row + k * g.sw * g.Cb + 16 * c);
                        const __m512i o = _mm512_add_epi32(base, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(v), pv));
                        _mm512_storeu_si512(offs.data() + k * stride + cnt, o);
                    }
                    cnt += len;
                }
            }
            for (int64_t k = 0; k < np; ++k) {
                const int32_t * op = offs.data() + k * stride;
                float * dst = out + (r * g.OW + ow0 + k) * g.O;
                for (int64_t o0 = 0; o0 < g.Op; o0 += 16 * V) {
                    const float * t = table + o0;
                    __m512 a0[V], a1[V], a2[V], a3[V];
                    for (int v = 0; v < V; ++v) {
                        a0[v] = _mm512_loadu_ps(bias + o0 + 16 * v);
                        a1[v] = a2[v] = a3[v] = _mm512_setzero_ps();
                    }
                    int64_t j = 0;
                    for (; j + 3 < cnt; j += 4) {
                        for (int v = 0; v < V; ++v) {
                            a0[v] = _mm512_add_ps(a0[v], _mm512_loadu_ps(t + op[j] + 16 * v));
                            a1[v] = _mm512_add_ps(a1[v], _mm512_loadu_ps(t + op[j + 1] + 16 * v));
                            a2[v] = _mm512_add_ps(a2[v], _mm512_loadu_ps(t + op[j + 2] + 16 * v));
                            a3[v] = _mm512_add_ps(a3[v], _mm512_loadu_ps(t + op[j + 3] + 16 * v));
                        }
                    }
                    for (int v = 0; v < V; ++v) { // the last 0 - 3 rows, into sums 0, 1, 2 as j mod 4 says
                        if (j < cnt) {
                            a0[v] = _mm512_add_ps(a0[v], _mm512_loadu_ps(t + op[j] + 16 * v));
                        }
                        if (j + 1 < cnt) {
                            a1[v] = _mm512_add_ps(a1[v], _mm512_loadu_ps(t + op[j + 1] + 16 * v));
                        }
                        if (j + 2 < cnt) {
                            a2[v] = _mm512_add_ps(a2[v], _mm512_loadu_ps(t + op[j + 2] + 16 * v));
                        }
                    }
                    for (int v = 0; v < V; ++v) {
                        const int64_t o = o0 + 16 * v;
                        const __m512 sum = _mm512_add_ps(_mm512_add_ps(a0[v], a1[v]), _mm512_add_ps(a2[v], a3[v]));
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
}

void table_rows(const table_geometry & g, const uint8_t * bits, const float * table, const float * bias, int64_t r0,
               int64_t r1, float * out) {
    const int64_t nv = g.Op / 16;
    if (nv % 4 == 0) {
        table_rows_v<4>(g, bits, table, bias, r0, r1, out);
    } else if (nv % 2 == 0) {
        table_rows_v<2>(g, bits, table, bias, r0, r1, out);
    } else {
        table_rows_v<1>(g, bits, table, bias, r0, r1, out);
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
    if (g.group != 1) {
        fail(what, "takes spikes as they are (group 1), not pooled spikes");
    }
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
    static const bool avx = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                            __builtin_cpu_supports("avx512vl");
    const bool vec = avx && !portable;
#endif
    const auto no_scratch = [] { return 0; };
    parallel_chunks(g.N * g.OH, parallel_chunks_of(g.N * g.OH), no_scratch, [&](int, int64_t r0, int64_t r1) {
#ifdef SNNKIT_TABLE_AVX512
        if (vec) {
            avx512::table_rows(g, bp, tp, biasp, r0, r1, op);
            return;
        }
#endif
        portable::table_rows(g, bp, tp, biasp, r0, r1, op);
    });
    return out.permute({0, 3, 1, 2});
}

} // namespace snnkit
