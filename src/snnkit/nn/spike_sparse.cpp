// snnkit/nn/spike_sparse.cpp
#include "snnkit/nn/spike_sparse.h"

#include "snnkit/core/error.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) // GCC: #pragma GCC target
#include <immintrin.h>
#define SNNKIT_SPARSE_AVX512 1
#endif

namespace snnkit {

namespace {

struct conv_geometry {
    int64_t C, H, W, O, kh, kw, sh, sw, ph, pw, OH, OW;
};

#ifdef SNNKIT_SPARSE_AVX512
#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {

inline void row_fma(float * out, const float * w, float v, int64_t n) {
    const __m512 vv = _mm512_set1_ps(v);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm512_storeu_ps(out + i, _mm512_fmadd_ps(vv, _mm512_loadu_ps(w + i), _mm512_loadu_ps(out + i)));
    }
    if (i < n) {
        const auto m = static_cast<__mmask16>((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(out + i, m,
                              _mm512_fmadd_ps(vv, _mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, out + i)));
    }
}

inline uint32_t nonzero16(const float * p) {
    return _mm512_cmp_ps_mask(_mm512_loadu_ps(p), _mm512_setzero_ps(), _CMP_NEQ_UQ);
}

#include "snnkit/nn/spike_sparse_sample.inc"

} // namespace avx512
#pragma GCC pop_options
#endif

namespace portable {

inline void row_fma(float * out, const float * w, float v, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        out[i] += v * w[i];
    }
}

inline uint32_t nonzero16(const float * p) {
    uint32_t m = 0;
    for (int i = 0; i < 16; ++i) {
        m |= static_cast<uint32_t>(p[i] != 0.0f) << i;
    }
    return m;
}

#include "snnkit/nn/spike_sparse_sample.inc"

} // namespace portable

struct kernel_set {
    void (*conv)(const conv_geometry &, const float *, const float *, float *);
    void (*linear)(int64_t, int64_t, const float *, const float *, float *);
    int64_t (*count)(const float *, int64_t);
};

const kernel_set & kernels() {
    static const kernel_set k = [] {
#ifdef SNNKIT_SPARSE_AVX512
        if (__builtin_cpu_supports("avx512f")) {
            return kernel_set{avx512::conv_sample, avx512::linear_sample, avx512::count_nonzero};
        }
#endif
        return kernel_set{portable::conv_sample, portable::linear_sample, portable::count_nonzero};
    }();
    return k;
}

void check_float(const at::Tensor & t, const char * what) {
    if (t.defined() && t.scalar_type() != at::kFloat) {
        fail("sparse path", std::string(what) + " must be float32");
    }
}

// Fills n rows of length o with the bias (zeros when undefined).
void fill_bias(float * out, int64_t n, int64_t o, const at::Tensor & bias) {
    if (!bias.defined()) {
        std::fill(out, out + n * o, 0.0f);
        return;
    }
    const float * b = bias.data_ptr<float>();
    for (int64_t r = 0; r < n; ++r) {
        std::copy(b, b + o, out + r * o);
    }
}

// Samples per parallel_for chunk: at least ~64 Ki input values each, so that a small layer runs on the calling
// thread instead of waking the pool.
int64_t grain_of(int64_t values_per_sample) {
    return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, values_per_sample));
}

} // namespace

at::Tensor sparse_weight_rows(const at::Tensor & weight) {
    if (weight.dim() == 4) {
        return weight.permute({1, 2, 3, 0}).contiguous();
    }
    if (weight.dim() == 2) {
        return weight.t().contiguous();
    }
    fail("sparse path", "expects a conv [O, C, kh, kw] or linear [O, K] weight");
}

at::Tensor sparse_conv2d(const at::Tensor & x_in, const at::Tensor & rows, const at::Tensor & bias_in,
                         std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                         std::array<int64_t, 2> padding) {
    check_float(x_in, "input");
    check_float(rows, "weight");
    check_float(bias_in, "bias");
    if (x_in.dim() != 4 || rows.dim() != 4 || rows.size(0) != x_in.size(1) || rows.size(1) != kernel[0] ||
        rows.size(2) != kernel[1]) {
        fail("sparse conv2d", "input [N, C, H, W] and weight rows [C, kh, kw, O] do not match");
    }
    const at::Tensor x = x_in.contiguous();
    const at::Tensor bias = bias_in.defined() ? bias_in.contiguous() : bias_in;
    conv_geometry g{};
    g.C = x.size(1);
    g.H = x.size(2);
    g.W = x.size(3);
    g.O = rows.size(3);
    g.kh = kernel[0];
    g.kw = kernel[1];
    g.sh = stride[0];
    g.sw = stride[1];
    g.ph = padding[0];
    g.pw = padding[1];
    g.OH = (g.H + 2 * g.ph - g.kh) / g.sh + 1;
    g.OW = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
    const int64_t N = x.size(0), in_size = g.C * g.H * g.W, out_size = g.OH * g.OW * g.O;
    at::Tensor out = at::empty({N, g.O, g.OH, g.OW}, x.options());
    const float * xp = x.data_ptr<float>();
    const float * rp = rows.data_ptr<float>();
    float * op = out.data_ptr<float>();
    const kernel_set & k = kernels();
    const int64_t P = g.OH * g.OW;
    at::parallel_for(0, N, grain_of(in_size), [&](int64_t b, int64_t e) {
        // one sample scattered channels-last [P, O] into a buffer that stays in cache, then transposed to [O, P]
        std::vector<float> buf(static_cast<size_t>(out_size));
        for (int64_t n = b; n < e; ++n) {
            fill_bias(buf.data(), P, g.O, bias);
            k.conv(g, xp + n * in_size, rp, buf.data());
            float * dst = op + n * out_size;
            for (int64_t p0 = 0; p0 < P; p0 += 16) { // 16 positions at a time: each source row read once
                const int64_t p1 = std::min(P, p0 + 16);
                for (int64_t o = 0; o < g.O; ++o) {
                    for (int64_t p = p0; p < p1; ++p) {
                        dst[o * P + p] = buf[static_cast<size_t>(p * g.O + o)];
                    }
                }
            }
        }
    });
    return out;
}

at::Tensor sparse_linear(const at::Tensor & x_in, const at::Tensor & rows, const at::Tensor & bias_in) {
    check_float(x_in, "input");
    check_float(rows, "weight");
    check_float(bias_in, "bias");
    if (x_in.dim() != 2 || rows.dim() != 2 || rows.size(0) != x_in.size(1)) {
        fail("sparse linear", "input [N, K] and weight rows [K, O] do not match");
    }
    const at::Tensor x = x_in.contiguous();
    const at::Tensor bias = bias_in.defined() ? bias_in.contiguous() : bias_in;
    const int64_t N = x.size(0), K = x.size(1), O = rows.size(1);
    at::Tensor out = at::empty({N, O}, x.options());
    const float * xp = x.data_ptr<float>();
    const float * rp = rows.data_ptr<float>();
    float * op = out.data_ptr<float>();
    const kernel_set & k = kernels();
    at::parallel_for(0, N, grain_of(K), [&](int64_t b, int64_t e) {
        for (int64_t n = b; n < e; ++n) {
            fill_bias(op + n * O, 1, O, bias);
            k.linear(K, O, xp + n * K, rp, op + n * O);
        }
    });
    return out;
}

double nonzero_fraction(const at::Tensor & x_in) {
    if (x_in.numel() == 0) {
        return 0.0;
    }
    if (x_in.scalar_type() != at::kFloat) {
        return static_cast<double>(at::count_nonzero(x_in).item<int64_t>()) / static_cast<double>(x_in.numel());
    }
    const at::Tensor x = x_in.contiguous();
    const float * p = x.data_ptr<float>();
    const int64_t n = x.numel(), block = int64_t{1} << 16;
    const int64_t nz = at::parallel_reduce(
        0, (n + block - 1) / block, 4, int64_t{0},
        [&](int64_t b, int64_t e, int64_t acc) {
            for (int64_t i = b; i < e; ++i) {
                acc += kernels().count(p + i * block, std::min(block, n - i * block));
            }
            return acc;
        },
        [](int64_t a, int64_t b) { return a + b; });
    return static_cast<double>(nz) / static_cast<double>(n);
}

bool sparse_path_wins(const std::string & kind, double input_nonzero_fraction) {
    // bench_sparse's crossovers (2026-12-06, the development Xeon with AVX-512, batch 64, 1 thread, a loaded
    // machine; README's benchmark row): as the input's nonzero fraction, conv 3x3 1.6-5 % (resnet20-he's 16-64
    // channel layers) to 6-23 % (vgg16, pooled inputs), conv 1x1 2.6-19 %, linear 2.7 % (512 -> 10) to 22 %
    // (3136 -> 256). The thresholds sit at or below most of them, so that a layer near its crossover keeps the
    // dense kernel; the input's fraction is measured on every call (one pass), so a layer switches by batch.
    if (kind == "conv2d") {
        return input_nonzero_fraction < 0.05;
    }
    if (kind == "linear") {
        return input_nonzero_fraction < 0.02;
    }
    return false;
}

} // namespace snnkit
