// snnkit/nn/spike_gather.cpp
#include "snnkit/nn/spike_gather.h"

#include "snnkit/core/error.h"
#include "snnkit/core/parallel_chunks.h"
#include "snnkit/nn/graph.h"
#include "snnkit/nn/spike_conv_bf16.h"
#include "snnkit/nn/spike_gather_table.h"
#include "snnkit/nn/tensor_key.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) // GCC: #pragma GCC target
#include <immintrin.h>
#define SNNKIT_GATHER_AVX512 1
#endif

namespace snnkit {

namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Output positions whose lists the vector kernel builds before it sums them.
constexpr int64_t gather_block_positions = 8;

using gather_geometry = spike_gather_shape;

// Input channels per block when a layer's weight rows (kh kw Cp Op floats) exceed gather_rows_budget: each block's
// rows stay in the core's L2 while every position of a thread's share sums its active inputs of that block into its
// output (VGG-16's 128 - 512-channel layers: 1 - 9 MB of rows, else read from L3 for every active input). vgg16 at
// T = 32 with --sparse on the AMD EPYC: 2.50x the per-step loop in one block, 2.66x with 512 KiB, 2.74x with 768 KiB
// (two runs each). Multiples of 16 channels; Cp itself (one block) when Cp is not a multiple of 16.
constexpr int64_t gather_rows_budget = int64_t(768) << 10;

// Blocks count bits of a position (Cv = Cb * 8: channels times group); with pooled spikes (group g) a block of 16
// bits covers 16 / g channels' rows.
int64_t channel_block(const gather_geometry & g) {
    const int64_t Cv = g.Cb * 8, per_channel = g.kh * g.kw * g.Op * static_cast<int64_t>(sizeof(float));
    if (Cv % 16 != 0 || per_channel * g.Cr <= gather_rows_budget) {
        return Cv;
    }
    return std::max<int64_t>(16, gather_rows_budget * g.group / per_channel / 16 * 16);
}

// The offset table: kernel row i, bit j of its span (kw positions of Cv bits) -> the offset, in floats, of its row
// (i, (j / Cv) Cr + (j % Cv) / group) of rows [kh, kw Cr, Op]; in chunks of 16 bits (kh * chunks * 16 entries).
std::vector<int32_t> row_offsets(const gather_geometry & g) {
    const int64_t Cv = g.Cb * 8, chunks = (g.kw * Cv + 15) / 16;
    std::vector<int32_t> offs(static_cast<size_t>(g.kh * chunks * 16), 0);
    for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw * Cv; ++j) {
            const int64_t row = i * g.kw * g.Cr + (j / Cv) * g.Cr + (j % Cv) / g.group;
            offs[static_cast<size_t>(i * chunks * 16 + j)] = static_cast<int32_t>(row * g.Op);
        }
    }
    return offs;
}

// Per output position: the row offsets (from the offset table offs) of its active inputs of bits [c0, c1) of each
// position (multiples of 8), kernel row by kernel row, kernel position by position, bit by bit; returns their
// count. `list` holds kh * kw * Cv entries.
inline int64_t active_rows(const gather_geometry & g, const uint8_t * bits, int64_t n, int64_t oh, int64_t ow,
                           const int32_t * offs, int32_t * list, int64_t c0, int64_t c1) {
    const int64_t Cp = g.Cb * 8, chunks = (g.kw * Cp + 15) / 16;
    int64_t cnt = 0;
    for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.sh - g.ph + i;
        if (ih < 0 || ih >= g.H) {
            continue; // the zero padding above and below
        }
        const uint8_t * s = bits + ((n * g.H + ih) * g.Wp + ow * g.sw) * g.Cb;
        for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t b0 = (j * Cp + c0) / 8, b1 = (j * Cp + c1) / 8; // its bytes in the kernel row's span
            for (int64_t b = b0; b < b1; b += 8) {
                uint64_t m;
                std::memcpy(&m, s + b, 8); // the buffer has 8 spare bytes at its end
                if (b1 - b < 8) {
                    m &= (uint64_t{1} << (8 * (b1 - b))) - 1;
                }
                const int32_t * at = offs + i * chunks * 16 + b * 8;
                while (m != 0) {
                    list[cnt++] = at[__builtin_ctzll(m)];
                    m &= m - 1;
                }
            }
        }
    }
    return cnt;
}

namespace portable {

// Outputs [o0, o0 + 16) of one position: the start (the bias, or with from_out the outputs already summed over
// earlier channel blocks) + the rows in `list`, summed as the vector kernel does (two running sums, even and odd
// entries, added at the end; each output on its own, so one block of 16 gives the vector kernel's V blocks' sums).
void gather_block(const float * rows, const float * bias, const int32_t * list, int64_t cnt, int64_t o0, float * out,
                  int64_t O, bool from_out) {
    constexpr int64_t w = 16;
    float a0[w], a1[w];
    for (int64_t o = 0; o < w; ++o) {
        a0[o] = !from_out ? bias[o0 + o] : o0 + o < O ? out[o0 + o] : 0.0f;
        a1[o] = 0.0f;
    }
    int64_t k = 0;
    for (; k + 1 < cnt; k += 2) {
        const float * r0 = rows + list[k] + o0;
        const float * r1 = rows + list[k + 1] + o0;
        for (int64_t o = 0; o < w; ++o) {
            a0[o] += r0[o];
            a1[o] += r1[o];
        }
    }
    if (k < cnt) {
        const float * r0 = rows + list[k] + o0;
        for (int64_t o = 0; o < w; ++o) {
            a0[o] += r0[o];
        }
    }
    for (int64_t o = 0; o < w && o0 + o < O; ++o) {
        out[o0 + o] = a0[o] + a1[o];
    }
}

// One row of W positions of C channels (x channels last) into Cb bytes per position at dst; counts the set bits.
void pack_row(const float * x, int64_t W, int64_t C, uint8_t * dst, int64_t Cb, int64_t & ones) {
    for (int64_t w = 0; w < W; ++w, x += C, dst += Cb) {
        for (int64_t c = 0; c < C; ++c) {
            if (x[c] != 0.0f) {
                dst[c >> 3] = static_cast<uint8_t>(dst[c >> 3] | (1u << (c & 7)));
                ++ones;
            }
        }
    }
}

} // namespace portable

#ifdef SNNKIT_GATHER_AVX512
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw")
namespace avx512 {

// active_rows without a branch per spike: each 16 bits of a kernel row's span select, by one compress, their
// entries of the layer's offset table `offs` ([kh, chunks * 16]: row offsets in span order) into `list` (16 spare
// entries at its end), in the plain loop's order. All channels (c0 = 0, c1 = Cp): the span's chunks in one run, the
// last one masked to the span; a channel block [c0, c1) (multiples of 16, Cp a multiple of 16): the block's chunks
// of each kernel position.
__attribute__((always_inline)) inline int64_t active_rows(const gather_geometry & g, const uint8_t * bits, int64_t n,
                                                          int64_t oh, int64_t ow, const int32_t * offs, int32_t * list,
                                                          int64_t c0, int64_t c1) {
    const int64_t Cp = g.Cb * 8, span_bits = g.kw * Cp, chunks = (span_bits + 15) / 16;
    const bool whole = c0 == 0 && c1 == Cp;
    const uint32_t tail = span_bits % 16 == 0 ? 0xffffu : (1u << (span_bits % 16)) - 1;
    int64_t cnt = 0;
    for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.sh - g.ph + i;
        if (ih < 0 || ih >= g.H) {
            continue;
        }
        const uint8_t * s = bits + ((n * g.H + ih) * g.Wp + ow * g.sw) * g.Cb;
        const int32_t * o = offs + i * chunks * 16;
        for (int64_t j = 0; j < (whole ? 1 : g.kw); ++j) {
            const int64_t q0 = whole ? 0 : (j * Cp + c0) / 16, q1 = whole ? chunks : (j * Cp + c1) / 16;
            for (int64_t q = q0; q < q1; ++q) {
                uint16_t m;
                std::memcpy(&m, s + 2 * q, 2); // the buffer has 8 spare bytes at its end
                const uint32_t k = whole && q + 1 == chunks ? m & tail : m;
                _mm512_storeu_si512(
                    list + cnt, _mm512_maskz_compress_epi32(static_cast<__mmask16>(k), _mm512_loadu_si512(o + 16 * q)));
                cnt += __builtin_popcount(k);
            }
        }
    }
    return cnt;
}

template <int V>
__attribute__((always_inline)) inline void gather_block_v(const float * rows, const float * bias, const int32_t * list,
                                                          int64_t cnt, int64_t o0, float * out, int64_t O,
                                                          bool from_out) {
    __m512 a0[V], a1[V];
    for (int v = 0; v < V; ++v) {
        const int64_t o = o0 + 16 * v;
        a0[v] = !from_out      ? _mm512_loadu_ps(bias + o)
                : o + 16 <= O ? _mm512_loadu_ps(out + o)
                : o < O       ? _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (O - o)) - 1), out + o)
                              : _mm512_setzero_ps();
        a1[v] = _mm512_setzero_ps();
    }
    int64_t k = 0;
    for (; k + 1 < cnt; k += 2) {
        const float * r0 = rows + list[k] + o0;
        const float * r1 = rows + list[k + 1] + o0;
        for (int v = 0; v < V; ++v) {
            a0[v] = _mm512_add_ps(a0[v], _mm512_loadu_ps(r0 + 16 * v));
            a1[v] = _mm512_add_ps(a1[v], _mm512_loadu_ps(r1 + 16 * v));
        }
    }
    if (k < cnt) {
        const float * r0 = rows + list[k] + o0;
        for (int v = 0; v < V; ++v) {
            a0[v] = _mm512_add_ps(a0[v], _mm512_loadu_ps(r0 + 16 * v));
        }
    }
    for (int v = 0; v < V; ++v) {
        const int64_t o = o0 + 16 * v;
        const __m512 s = _mm512_add_ps(a0[v], a1[v]);
        if (o + 16 <= O) {
            _mm512_storeu_ps(out + o, s);
        } else if (o < O) {
            _mm512_mask_storeu_ps(out + o, static_cast<__mmask16>((1u << (O - o)) - 1), s);
        }
    }
}

// Output rows r0..r1 of [N * OH] (each OW positions of O channels), V vectors of outputs per block, channel block
// by channel block (channel_block).
template <int V>
void conv_rows_v(const gather_geometry & g, const uint8_t * bits, const float * rows, const float * bias,
                 const int32_t * offs, int32_t * list, int64_t r0, int64_t r1, float * out) {
    int64_t start[gather_block_positions + 1];
    const int64_t Cp = g.Cb * 8, cb = channel_block(g);
    for (int64_t c0 = 0; c0 < Cp; c0 += cb) {
        const int64_t c1 = std::min(Cp, c0 + cb);
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t n = r / g.OH, oh = r % g.OH;
            for (int64_t ow0 = 0; ow0 < g.OW; ow0 += gather_block_positions) {
                // the lists of a few positions first, then their sums: the sums' loads then find the lists in the
                // cache, not in the store buffer (a load from overlapping vector stores cannot be forwarded)
                const int64_t np = std::min<int64_t>(gather_block_positions, g.OW - ow0);
                start[0] = 0;
                for (int64_t p = 0; p < np; ++p) {
                    start[p + 1] = start[p] + active_rows(g, bits, n, oh, ow0 + p, offs, list + start[p], c0, c1);
                }
                for (int64_t p = 0; p < np; ++p) {
                    float * dst = out + (r * g.OW + ow0 + p) * g.O;
                    for (int64_t o0 = 0; o0 < g.Op; o0 += 16 * V) {
                        gather_block_v<V>(rows, bias, list + start[p], start[p + 1] - start[p], o0, dst, g.O, c0 > 0);
                    }
                }
            }
        }
    }
}

void conv_rows(const gather_geometry & g, const uint8_t * bits, const float * rows, const float * bias,
               const int32_t * offs, int32_t * list, int64_t r0, int64_t r1, float * out) {
    const int64_t nv = g.Op / 16; // blocks of 8, 4, 2 or 1 vectors, whichever divides the outputs
    if (nv % 8 == 0) {
        conv_rows_v<8>(g, bits, rows, bias, offs, list, r0, r1, out);
    } else if (nv % 4 == 0) {
        conv_rows_v<4>(g, bits, rows, bias, offs, list, r0, r1, out);
    } else if (nv % 2 == 0) {
        conv_rows_v<2>(g, bits, rows, bias, offs, list, r0, r1, out);
    } else {
        conv_rows_v<1>(g, bits, rows, bias, offs, list, r0, r1, out);
    }
}

void pack_row(const float * x, int64_t W, int64_t C, uint8_t * dst, int64_t Cb, int64_t & ones) {
    int64_t count = 0;
    for (int64_t w = 0; w < W; ++w, x += C, dst += Cb) {
        int64_t c = 0;
        for (; c + 16 <= C; c += 16) {
            const uint16_t m = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + c), _mm512_setzero_ps(), _CMP_NEQ_UQ);
            std::memcpy(dst + (c >> 3), &m, 2);
            count += __builtin_popcount(m);
        }
        if (c < C) {
            const auto k = static_cast<__mmask16>((1u << (C - c)) - 1);
            const uint32_t m =
                _mm512_mask_cmp_ps_mask(k, _mm512_maskz_loadu_ps(k, x + c), _mm512_setzero_ps(), _CMP_NEQ_UQ);
            dst[c >> 3] = static_cast<uint8_t>(m);
            if (C - c > 8) {
                dst[(c >> 3) + 1] = static_cast<uint8_t>(m >> 8);
            }
            count += __builtin_popcount(m);
        }
    }
    ones += count;
}

} // namespace avx512
#pragma GCC pop_options
#endif

bool use_avx512(bool portable) {
#ifdef SNNKIT_GATHER_AVX512
    static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    return ok && !portable;
#else
    (void)portable;
    return false;
#endif
}

} // namespace

at::Tensor spike_gather_rows(const at::Tensor & weight, const at::Tensor & amp, double scale) {
    const char * what = "spike_gather_rows";
    if (weight.dim() != 4) {
        fail(what, "weight must be [O, C, kh, kw], got " + std::to_string(weight.dim()) + " dims");
    }
    const int64_t O = weight.size(0), C = weight.size(1), kh = weight.size(2), kw = weight.size(3);
    const int64_t Cp = round_up(C, 8), Op = round_up(O, 16);
    at::Tensor w = spike_folded_weight(weight, amp, at::kFloat, what); // [O, C, kh, kw]
    if (scale != 1.0) {
        w = w * scale;
    }
    at::Tensor rows = at::zeros({kh, kw, Cp, Op}, w.options());
    rows.narrow(2, 0, C).narrow(3, 0, O).copy_(w.permute({2, 3, 1, 0}));
    return rows.view({kh, kw * Cp, Op});
}

int64_t spike_gather_pad_right(int64_t W, int64_t kernel_w, int64_t stride_w, int64_t padding_w) {
    const int64_t OW = conv_out_extent(W, kernel_w, stride_w, padding_w, 1);
    return std::max<int64_t>(0, (OW - 1) * stride_w + kernel_w - padding_w - W);
}

spike_bits spike_gather_pack(const at::Tensor & x_in, int64_t pad_left, int64_t pad_right, bool portable) {
    if (x_in.dim() != 4 || x_in.scalar_type() != at::kFloat || !x_in.device().is_cpu()) {
        fail("spike_gather_pack", "x must be a float CPU tensor [N, C, H, W]");
    }
    if (pad_left < 0 || pad_right < 0) {
        fail("spike_gather_pack", "padding must be >= 0");
    }
    const at::Tensor x = x_in.contiguous(at::MemoryFormat::ChannelsLast); // [N, H, W, C] in memory
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t Cb = round_up(C, 8) / 8, Wp = pad_left + W + pad_right;
    spike_bits r;
    r.C = C;
    r.pad_left = pad_left;
    at::Tensor buf = at::zeros({N * H * Wp * Cb + 8}, x.options().dtype(at::kByte));
    r.bits = buf.narrow(0, 0, N * H * Wp * Cb).view({N, H, Wp, Cb});
    const float * xp = x.data_ptr<float>();
    uint8_t * bp = buf.data_ptr<uint8_t>();
    const bool vec = use_avx512(portable);
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, W * C));
    r.ones = at::parallel_reduce(
        0, N * H, grain, int64_t{0},
        [&](int64_t b, int64_t e, int64_t acc) {
            for (int64_t row = b; row < e; ++row) {
                const float * src = xp + row * W * C;
                uint8_t * dst = bp + (row * Wp + pad_left) * Cb;
#ifdef SNNKIT_GATHER_AVX512
                if (vec) {
                    avx512::pack_row(src, W, C, dst, Cb, acc);
                    continue;
                }
#endif
                portable::pack_row(src, W, C, dst, Cb, acc);
            }
            return acc;
        },
        [](int64_t a, int64_t b) { return a + b; });
    return r;
}

int64_t spike_gather_pack_row(const float * x, int64_t W, int64_t C, uint8_t * dst, bool portable) {
    int64_t ones = 0;
#ifdef SNNKIT_GATHER_AVX512
    if (use_avx512(portable)) {
        avx512::pack_row(x, W, C, dst, round_up(C, 8) / 8, ones);
        return ones;
    }
#endif
    portable::pack_row(x, W, C, dst, round_up(C, 8) / 8, ones);
    return ones;
}

spike_gather_shape spike_gather_shape_of(const spike_bits & x, int64_t H, int64_t W, int64_t O,
                                         std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                                         std::array<int64_t, 2> padding, const char * what) {
    const at::Tensor & b = x.bits;
    if (b.dim() != 4 || b.scalar_type() != at::kByte || b.size(1) != H || x.group < 1 ||
        b.size(3) != round_up(x.C * x.group, 8) / 8 || x.pad_left != padding[1]) {
        fail(what, "the packed spikes do not match H, C or the padding");
    }
    if (O < 1) {
        fail(what, "needs at least one output channel");
    }
    spike_gather_shape g{};
    g.N = b.size(0);
    g.H = H;
    g.W = W;
    g.Wp = b.size(2);
    g.Cb = b.size(3);
    g.O = O;
    g.Op = round_up(O, 16);
    g.kh = kernel[0];
    g.kw = kernel[1];
    g.sh = stride[0];
    g.sw = stride[1];
    g.ph = padding[0];
    g.group = x.group;
    g.Cr = round_up(x.C, 8);
    g.OH = conv_out_extent(H, kernel[0], stride[0], padding[0], 1);
    g.OW = conv_out_extent(W, kernel[1], stride[1], padding[1], 1);
    if (g.OH < 1 || g.OW < 1) {
        fail(what, "the input is smaller than the kernel");
    }
    if (g.Wp < padding[1] + W + spike_gather_pad_right(W, kernel[1], stride[1], padding[1])) {
        fail(what, "the packed spikes lack the right padding this convolution reads");
    }
    return g;
}

at::Tensor spike_gather_bias(const at::Tensor & bias_in, int64_t O, int64_t Op, const char * what) {
    at::Tensor bias = at::zeros({Op}, at::kFloat);
    if (bias_in.defined()) {
        if (bias_in.numel() != O) {
            fail(what, "bias has " + std::to_string(bias_in.numel()) + " values for " + std::to_string(O) + " outputs");
        }
        bias.narrow(0, 0, O).copy_(bias_in.detach().reshape({O}));
    }
    return bias;
}

at::Tensor spike_gather_conv2d(const spike_bits & x, int64_t H, int64_t W, const at::Tensor & rows_in, int64_t O,
                               const at::Tensor & bias_in, std::array<int64_t, 2> kernel,
                               std::array<int64_t, 2> stride, std::array<int64_t, 2> padding, bool portable) {
    const char * what = "spike_gather_conv2d";
    const gather_geometry g = spike_gather_shape_of(x, H, W, O, kernel, stride, padding, what);
    const int64_t Cp = g.Cb * 8; // bits per position
    if (rows_in.dim() != 3 || rows_in.scalar_type() != at::kFloat || rows_in.size(0) != kernel[0] ||
        rows_in.size(1) != kernel[1] * g.Cr || rows_in.size(2) != g.Op) {
        fail(what, "rows must be spike_gather_rows' [kh, kw * Cp, Op] for this kernel, C and O");
    }
    const at::Tensor rows = rows_in.contiguous();
    const at::Tensor bias = spike_gather_bias(bias_in, O, g.Op, what);
    at::Tensor out = at::empty({g.N, g.OH, g.OW, O}, rows.options());
    const uint8_t * bp = x.bits.data_ptr<uint8_t>();
    const float * rp = rows.data_ptr<float>();
    const float * biasp = bias.data_ptr<float>();
    float * op = out.data_ptr<float>();
    const bool vec = use_avx512(portable);
    const int64_t most = g.kh * g.kw * Cp;
    if (g.kh * g.kw * g.Cr * g.Op > (int64_t{1} << 31) - 1) {
        fail(what, "the layer is too large for 32-bit row offsets");
    }
    const std::vector<int32_t> offs = row_offsets(g);
    const auto make_list = [&] { return std::vector<int32_t>(static_cast<size_t>(gather_block_positions * most + 16)); };
    parallel_chunks(g.N * g.OH, parallel_chunks_of(g.N * g.OH), make_list, [&](std::vector<int32_t> & list, int64_t r0,
                                                                             int64_t r1) {
#ifdef SNNKIT_GATHER_AVX512
        if (vec) {
            avx512::conv_rows(g, bp, rp, biasp, offs.data(), list.data(), r0, r1, op);
            return;
        }
#endif
        const int64_t cb = channel_block(g);
        for (int64_t c0 = 0; c0 < Cp; c0 += cb) {
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t n = r / g.OH, oh = r % g.OH;
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    const int64_t cnt =
                        active_rows(g, bp, n, oh, ow, offs.data(), list.data(), c0, std::min(Cp, c0 + cb));
                    float * dst = op + (r * g.OW + ow) * O;
                    for (int64_t o0 = 0; o0 < g.Op; o0 += 16) {
                        portable::gather_block(rp, biasp, list.data(), cnt, o0, dst, O, c0 > 0);
                    }
                }
            }
        }
    });
    return out.permute({0, 3, 1, 2});
}

at::Tensor spike_gather_conv2d(const at::Tensor & x, const at::Tensor & weight, const at::Tensor & amp,
                               const at::Tensor & bias, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                               std::array<int64_t, 2> padding, bool portable) {
    if (weight.dim() != 4 || x.dim() != 4 || weight.size(1) != x.size(1) || weight.size(2) != kernel[0] ||
        weight.size(3) != kernel[1]) {
        fail("spike_gather_conv2d", "x [N, C, H, W] and weight [O, C, kh, kw] do not match the kernel");
    }
    const int64_t W = x.size(3);
    const spike_bits bits =
        spike_gather_pack(x, padding[1], spike_gather_pad_right(W, kernel[1], stride[1], padding[1]), portable);
    return spike_gather_conv2d(bits, x.size(2), W, spike_gather_rows(weight, amp), weight.size(0), bias, kernel,
                               stride, padding, portable);
}

at::Tensor spike_gather_cache::rows(const at::Tensor & weight, const at::Tensor & amp, int64_t group) {
    return get(weight, amp, false, group);
}

at::Tensor spike_gather_cache::table(const at::Tensor & weight, const at::Tensor & amp) {
    return get(weight, amp, true, 1);
}

at::Tensor spike_gather_cache::get(const at::Tensor & weight, const at::Tensor & amp, bool table, int64_t group) {
    if (group < 1) {
        fail("spike_gather_cache", "group must be >= 1, got " + std::to_string(group));
    }
    const double scale = 1.0 / static_cast<double>(group);
    const int64_t wv = tensor_version(weight), av = tensor_version(amp);
    if (wv < 0 || av < 0) { // nothing to key on: made on every call
        const at::Tensor r = spike_gather_rows(weight, amp, scale);
        return table ? spike_gather_table(r) : r;
    }
    std::lock_guard<std::mutex> lock(mu_);
    entry * e = nullptr;
    for (entry & c : entries_) {
        if (same_tensor(c.weight, weight) && same_tensor(c.amp, amp) && c.group == group) {
            e = &c;
            break;
        }
    }
    if (e == nullptr) {
        entries_.push_back(entry{weight, amp, {}, {}, wv, av, group});
        e = &entries_.back();
    }
    if (e->weight_version != wv || e->amp_version != av) { // changed in place
        e->rows = e->table = at::Tensor();
        e->weight_version = wv;
        e->amp_version = av;
    }
    if (!e->rows.defined()) {
        e->rows = spike_gather_rows(weight, amp, scale);
        ++preparations_;
    }
    if (table && !e->table.defined()) {
        e->table = spike_gather_table(e->rows);
        ++preparations_;
    }
    return table ? e->table : e->rows;
}

bool spike_gather_wins(double rate, int64_t out_channels, bool pooled) {
    if (pooled) {
        // The executor decides after packing (the count of spikes comes with it), so the pack is spent either way:
        // bench_sparse's crossovers of the gather after its pack against the pooling + dense convolution for 2 x 2
        // pooled spikes (2026-12-07, AMD EPYC, 2 threads, T x N = 128), in spikes per pooled value (4x the spike
        // rate): VGG-16's 64 -> 128 40 %, 128 -> 256 46 %, 256 -> 512 56 %, 512 -> 512 (2 x 2 map) above 60 %
        // (with the pack: 24 %, 40 %, 52 %, above 56 %); the wider the layer, the more of its cost the rows' sums
        // carry against the bit scan
        return rate < (out_channels <= 128 ? 0.35 : out_channels <= 256 ? 0.4 : 0.5);
    }
    // bench_sparse's crossovers (2026-12-07, AMD EPYC with AVX-512, 2 threads, T x N = 128, both dense layouts):
    // ResNet-20's 16 -> 16 layers 20 %, every other spike-fed layer of ResNet-20 and VGG-16 27 % or more. The
    // thresholds sit below them; the rate is counted on every call, so a layer switches by batch.
    return rate < (out_channels <= 16 ? 0.15 : 0.2);
}

} // namespace snnkit
