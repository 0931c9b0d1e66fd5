// snnkit/neuron/neuron_kernel.cpp: the fused LIF/IF forward and BPTT backward (see neuron_kernel.h).
//
// Per neuron j, with u = v_temp and h = surrogate_grad(u - V_th):
//   forward   u_t = alpha v_t + x_t ;  theta_t = [u_t >= V_th] ;  s_t = theta_t * (1 or V_th)
//             soft: v_{t+1} = u_t - theta_t V_th        hard: v_{t+1} = u_t (1 - theta_t)
//   backward  (gv = dL/dv_{t+1}, starting from dL/dv_T; gs_t = dL/ds_t)
//             dv_{t+1}/du_t = soft: 1 - V_th h_t        hard: (1 - theta_t) - u_t h_t
//                             (detach_reset drops the h_t term: soft 1, hard 1 - theta_t)
//             du_t = gs_t (1 or V_th) h_t + gv dv_{t+1}/du_t ;  dL/dx_t = du_t ;  dL/dv_t = alpha du_t
//   dL/dv0 is the last dL/dv_t (t = 0).
//   dL/dalpha = sum_j sum_t du_t v_t   (u_t = alpha v_t + x_t; the dependence of v_t on alpha is in the
//             recursion already), with v_t the post-reset potential entering step t (v_0 = v0); v_t is
//             recomputed from u_{t-1} with forward's own reset arithmetic (same bits).
//
// u = alpha * v + x must round exactly like the reference's two ATen ops (mul, then add), and backward's
// recomputation must reproduce forward's u bit for bit: no fused multiply-add contraction in this file.
// no-trapping-math (results unchanged: it only lets the compiler evaluate both arms of a select) lets GCC
// if-convert the reset into blends, so the loops vectorise. Set before the includes so that every function
// in this file, inline header ones included, has the same options (GCC does not inline across a mismatch).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off", "no-trapping-math")
#endif

#include "snnkit/neuron/neuron_kernel.h"
#include "snnkit/core/parallel_chunks.h"
#include "snnkit/neuron/surrogate_grad.h"

#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// The block loops are compiled twice, for AVX (8 floats a vector) and for the baseline x86-64 SSE2, and the
// CPU picks at load time (GCC/Clang function multiversioning). Not needed when the build targets AVX anyway;
// -DSNNKIT_NO_MULTIVERSIONING builds the baseline only (to test it on an AVX machine).
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(__AVX__) && \
    !defined(SNNKIT_NO_MULTIVERSIONING)
#define SNNKIT_KERNEL_CLONES __attribute__((target_clones("avx", "default")))
#else
#define SNNKIT_KERNEL_CLONES
#endif
#if defined(__GNUC__) || defined(__clang__)
#define SNNKIT_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SNNKIT_ALWAYS_INLINE inline
#endif

namespace snnkit::kernel {

namespace {

// Writes q_j for the neurons j0 .. j0 + n - 1 of one block into out[0 .. n).
template <typename T>
void fill_block(const neuron_fill<T> & f, const neuron_shape & sh, int64_t j0, int64_t n, T * out) {
    switch (f.kind) {
    case fill_kind::zero: std::fill(out, out + n, T(0)); return;
    case fill_kind::scalar: std::fill(out, out + n, f.data[0]); return;
    case fill_kind::neuron: std::copy(f.data + j0, f.data + j0 + n, out); return;
    case fill_kind::channel:
        for (int64_t i = 0, j = j0; i < n;) { // runs of one channel row
            const int64_t len = std::min(sh.S - j % sh.S, n - i);
            std::fill(out + i, out + i + len, f.data[(j / sh.S) % sh.C]);
            i += len;
            j += len;
        }
        return;
    }
}

// Copies a finished row to its place in a [T, M] output. With `stream`, non-temporal stores: the output
// is far larger than the caches, so this skips reading each line before overwriting it (a third less
// memory traffic for the written stream).
template <typename T>
void store_row(T * __restrict dst, const T * __restrict src, int64_t n, bool stream) {
    int64_t i = 0;
#if defined(__SSE2__)
    if (stream) {
        constexpr int64_t lanes = 16 / sizeof(T);
        for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 15) != 0; ++i) dst[i] = src[i];
        for (; i + lanes <= n; i += lanes) {
            if constexpr (sizeof(T) == 4) {
                _mm_stream_ps(reinterpret_cast<float *>(dst + i), _mm_loadu_ps(reinterpret_cast<const float *>(src + i)));
            } else {
                _mm_stream_pd(reinterpret_cast<double *>(dst + i), _mm_loadu_pd(reinterpret_cast<const double *>(src + i)));
            }
        }
    }
#endif
    for (; i < n; ++i) dst[i] = src[i];
}

// Orders this thread's non-temporal stores before whatever runs after the kernel.
inline void store_fence() {
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

// The pointers and sizes of one block of n neurons (j0 .. j0 + n - 1) over all T steps. x, gs and out point
// at neuron j0 of step 0 of [T, M] tensors (x's steps xs apart: M, or 0 for an input repeated at every step);
// th, v, gv, row are n-element buffers (V_th, potential, dL/dv, one output row) and ub a [T][n] buffer.
// Backward with an alpha gradient: v0b holds v0 and ga accumulates the per-neuron sum of du_t v_t (both n
// elements; null when dL/dalpha is not wanted). Backward of a repeated input (sum_steps): out is the step's n
// gradients, zeroed, and accumulates dL/dx over the steps instead of one row being written per step.
template <typename T>
struct block_args {
    int64_t steps, M, xs, n;
    const T * x;
    const T * gs;   // backward: dL/dspikes
    T * out;        // forward: spikes; backward: dL/dx
    const T * th;
    T * v;
    T * gv;
    T * ub;
    T * row;
    bool stream;
    const T * v0b = nullptr;
    T * ga = nullptr;
    bool sum_steps = false;
    const T * x2 = nullptr; // forward: a second input added to x (same layout), or null
    const spike_sink<T> * sink = nullptr; // forward: takes each step's row instead of out (then unused)
    int64_t j0 = 0;                       // forward with a sink: the block's first neuron
};

// Forward: v holds v0 in and v_T out. ADD: the input is x + x2, summed first (as a separate add would).
template <typename T, bool SOFT, bool SPIKE_VTH, bool ADD>
SNNKIT_ALWAYS_INLINE void forward_rows(T alpha, const block_args<T> & a) {
    const int64_t n = a.n;
    const T * __restrict th = a.th;
    T * __restrict v = a.v;
    for (int64_t t = 0; t < a.steps; ++t) {
        const T * __restrict xt = a.x + t * a.xs;
        const T * __restrict x2t = ADD ? a.x2 + t * a.xs : nullptr;
        // the spikes straight into the output, or (streamed, or for a sink) into the row buffer
        T * __restrict row = a.stream || a.sink != nullptr ? a.row : a.out + t * a.M;
        for (int64_t i = 0; i < n; ++i) {
            const T u = alpha * v[i] + (ADD ? xt[i] + x2t[i] : xt[i]); // charge
            const T thi = th[i];
            const T theta = u >= thi ? T(1) : T(0);    // fire (as 0/1 arithmetic: the loop stays branch-free)
            row[i] = SPIKE_VTH ? theta * thi : theta;
            if constexpr (SOFT) {
                v[i] = u - theta * thi;                // soft reset: subtract V_th
            } else {
                v[i] = u >= thi ? T(0) : u;            // hard reset: to zero
            }
        }
        if (a.sink != nullptr) {
            a.sink->fn(a.sink->ctx, t, a.j0, row, n);
        } else if (a.stream) {
            store_row(a.out + t * a.M, row, n, true);
        }
    }
}

template <typename T, bool SOFT, bool SPIKE_VTH>
SNNKIT_ALWAYS_INLINE void forward_block(T alpha, const block_args<T> & a) {
    a.x2 != nullptr ? forward_rows<T, SOFT, SPIKE_VTH, true>(alpha, a) : forward_rows<T, SOFT, SPIKE_VTH, false>(alpha, a);
}

// ga[i] += du_t v_t for step t (du_t in row): v_t is v0 at t = 0, else forward's reset of u_{t-1}.
template <typename T, bool SOFT>
SNNKIT_ALWAYS_INLINE void accumulate_alpha_grad(const block_args<T> & a, int64_t t) {
    const int64_t n = a.n;
    const T * __restrict row = a.row;
    T * __restrict ga = a.ga;
    if (t == 0) {
        const T * __restrict v0 = a.v0b;
        for (int64_t i = 0; i < n; ++i) ga[i] += row[i] * v0[i];
        return;
    }
    const T * __restrict up = a.ub + (t - 1) * n;
    const T * __restrict th = a.th;
    for (int64_t i = 0; i < n; ++i) {
        const T u = up[i];
        const T thi = th[i];
        T vt;
        if constexpr (SOFT) {
            vt = u - (u >= thi ? T(1) : T(0)) * thi;
        } else {
            vt = u >= thi ? T(0) : u;
        }
        ga[i] += row[i] * vt;
    }
}

// Backward: recomputes the block's potentials u_t into ub (the same arithmetic as forward_block, so the
// same bits), then BPTT from t = T-1 down to 0. gv holds dL/dv_T in and dL/dv0 out.
template <typename T, surrogate_kind K, bool SOFT, bool DETACH, bool SPIKE_VTH>
SNNKIT_ALWAYS_INLINE void backward_block(const neuron_params & p, const block_args<T> & a) {
    const int64_t n = a.n;
    const T alpha = static_cast<T>(p.alpha);
    const T * __restrict th = a.th;
    T * __restrict v = a.v;
    T * __restrict gv = a.gv;
    T * __restrict row = a.row;
    for (int64_t t = 0; t < a.steps; ++t) {
        const T * __restrict xt = a.x + t * a.xs;
        T * __restrict ut = a.ub + t * n;
        for (int64_t i = 0; i < n; ++i) {
            const T u = alpha * v[i] + xt[i];
            ut[i] = u;
            const T thi = th[i];
            const T theta = u >= thi ? T(1) : T(0);
            if constexpr (SOFT) {
                v[i] = u - theta * thi;
            } else {
                v[i] = u >= thi ? T(0) : u;
            }
        }
    }
    const T sp = static_cast<T>(p.param);
    const T sw = static_cast<T>(p.width);
    const T inv2tanh = static_cast<T>(K == surrogate_kind::dspike ? dspike_inv2tanh(p.param, p.width) : 0.0);
    for (int64_t t = a.steps - 1; t >= 0; --t) {
        const T * __restrict ut = a.ub + t * n;
        const T * __restrict gst = a.gs + t * a.M;
        for (int64_t i = 0; i < n; ++i) {
            const T u = ut[i];
            const T thi = th[i];
            const T h = surrogate_detail::grad<K, T>(u - thi, sp, sw, inv2tanh);   // d theta / d u
            const T ds = SPIKE_VTH ? thi : T(1);                                    // d s / d theta
            T dv;                                                                   // d v_{t+1} / d u_t
            if constexpr (SOFT) {
                dv = DETACH ? T(1) : T(1) - thi * h;
            } else {
                const T keep = u >= thi ? T(0) : T(1);
                dv = DETACH ? keep : keep - u * h;
            }
            const T du = gst[i] * ds * h + gv[i] * dv;
            row[i] = du;
            gv[i] = alpha * du;
        }
        if (a.ga) accumulate_alpha_grad<T, SOFT>(a, t);
        if (a.sum_steps) {
            T * __restrict gx = a.out;
            for (int64_t i = 0; i < n; ++i) gx[i] += row[i];
        } else {
            store_row(a.out + t * a.M, row, n, a.stream);
        }
    }
}

// The multiversioned entry points: one block, the variant picked by the (run-time) options.
template <typename T>
SNNKIT_KERNEL_CLONES void run_forward_block(const neuron_params & p, const block_args<T> & a) {
    const T alpha = static_cast<T>(p.alpha);
    if (p.soft) {
        p.spike_vth ? forward_block<T, true, true>(alpha, a) : forward_block<T, true, false>(alpha, a);
    } else {
        p.spike_vth ? forward_block<T, false, true>(alpha, a) : forward_block<T, false, false>(alpha, a);
    }
}

// The spike value is a template parameter too: a run-time bool select in the loop gives GCC a byte-sized
// mask, and with it no vector form for the exp-based surrogates' float-to-int bit conversion.
template <typename T, surrogate_kind K, bool SOFT, bool DETACH>
SNNKIT_ALWAYS_INLINE void backward_spike(const neuron_params & p, const block_args<T> & a) {
    p.spike_vth ? backward_block<T, K, SOFT, DETACH, true>(p, a) : backward_block<T, K, SOFT, DETACH, false>(p, a);
}

template <typename T, surrogate_kind K>
SNNKIT_ALWAYS_INLINE void backward_variant(const neuron_params & p, const block_args<T> & a) {
    if (p.soft) {
        p.detach_reset ? backward_spike<T, K, true, true>(p, a) : backward_spike<T, K, true, false>(p, a);
    } else {
        p.detach_reset ? backward_spike<T, K, false, true>(p, a) : backward_spike<T, K, false, false>(p, a);
    }
}

template <typename T>
SNNKIT_KERNEL_CLONES void run_backward_block(const neuron_params & p, const block_args<T> & a) {
    switch (p.kind) {
    case surrogate_kind::rect: return backward_variant<T, surrogate_kind::rect>(p, a);
    case surrogate_kind::triangle: return backward_variant<T, surrogate_kind::triangle>(p, a);
    case surrogate_kind::exp: return backward_variant<T, surrogate_kind::exp>(p, a);
    case surrogate_kind::sigmoid: return backward_variant<T, surrogate_kind::sigmoid>(p, a);
    case surrogate_kind::atan: return backward_variant<T, surrogate_kind::atan>(p, a);
    case surrogate_kind::dspike: return backward_variant<T, surrogate_kind::dspike>(p, a);
    }
}

// A worker's scratch for for_each_block: `elems` elements from the c10 CPU allocator (so allocator statistics see
// it). When the worker is done with it, its non-temporal stores are fenced.
template <typename T>
struct block_scratch {
    c10::DataPtr data;
    explicit block_scratch(int64_t elems)
        : data(c10::GetCPUAllocator()->allocate(static_cast<size_t>(elems) * sizeof(T))) {}
    block_scratch(const block_scratch &) = delete;
    block_scratch & operator=(const block_scratch &) = delete;
    ~block_scratch() { store_fence(); }
    T * get() const { return static_cast<T *>(data.get()); }
};

// Runs body(b, scratch) for every block b. Each worker takes `scratch_elems` elements of scratch, then takes blocks
// from a shared counter (parallel_chunks): on a busy machine a descheduled thread does not hold the others up as a
// static split would.
template <typename T, typename Body>
void for_each_block(int64_t blocks, int64_t scratch_elems, const Body & body) {
    parallel_chunks(
        blocks, 1, [&] { return block_scratch<T>(scratch_elems); },
        [&](block_scratch<T> & scratch, int64_t b0, int64_t b1) {
            for (int64_t b = b0; b < b1; ++b) {
                body(b, scratch.get());
            }
        });
}

// Outputs this large (bytes) are written with non-temporal stores (they cannot stay in the caches anyway).
constexpr int64_t stream_bytes = 16 << 20;

} // namespace

int64_t neuron_block_size(int64_t T, int64_t elem, bool backward) {
    // Longer rows stream better (fewer jumps between the T rows of a block); backward's T x block buffer of
    // potentials must stay in L2, forward keeps only 3 rows.
    constexpr int64_t budget = 192 * 1024;
    constexpr int64_t max_block = 8192;
    constexpr int64_t min_block = 64;
    const int64_t b = backward ? budget / std::max<int64_t>(1, T * elem) : max_block;
    return std::clamp<int64_t>(b / min_block * min_block, min_block, max_block);
}

template <typename T>
bool neuron_forward_kernel(const neuron_params & p, const neuron_shape & sh, const T * x, neuron_fill<T> vth,
                           neuron_fill<T> v0, T * spikes, T * v_out, const T * x_add, const spike_sink<T> * sink) {
    if (sh.M == 0) return true;
    int64_t B = std::min(neuron_block_size(sh.T, sizeof(T), false), (sh.M + 63) / 64 * 64);
    if (sink != nullptr && sink->align > 1) { // whole units of the sink's rows
        B = (B + sink->align - 1) / sink->align * sink->align;
    }
    const int64_t blocks = (sh.M + B - 1) / B;
    const bool stream = sh.T * sh.M * static_cast<int64_t>(sizeof(T)) >= stream_bytes;
    std::atomic<bool> finite{true};
    for_each_block<T>(blocks, 3 * B, [&](int64_t b, T * scratch) {
        T * th = scratch;
        T * v = th + B;
        T * row = v + B;
        const int64_t j0 = b * B;
        const int64_t n = std::min(B, sh.M - j0);
        fill_block(vth, sh, j0, n, th);
        fill_block(v0, sh, j0, n, v);
        const int64_t xs = sh.x_repeated ? 0 : sh.M;
        block_args<T> args{sh.T, sh.M, xs, n, x + j0, nullptr, sink ? nullptr : spikes + j0, th, v, nullptr, nullptr,
                           row, stream && sink == nullptr};
        args.x2 = x_add != nullptr ? x_add + j0 : nullptr;
        args.sink = sink;
        args.j0 = j0;
        run_forward_block<T>(p, args);
        // the final potentials out, and whether any is NaN, in one pass
        T * __restrict dst = v_out + j0;
        int nan = 0;
        for (int64_t i = 0; i < n; ++i) {
            const T vi = v[i];
            nan |= vi != vi;
            dst[i] = vi;
        }
        if (nan) finite.store(false, std::memory_order_relaxed);
    });
    return finite.load();
}

template <typename T>
void neuron_backward_kernel(const neuron_params & p, const neuron_shape & sh, const T * x, neuron_fill<T> vth,
                            neuron_fill<T> v0, const T * grad_spikes, const T * grad_v, T * grad_x, T * grad_v0,
                            double * grad_alpha) {
    if (grad_alpha) *grad_alpha = 0.0;
    if (sh.M == 0) return;
    const int64_t B = std::min(neuron_block_size(sh.T, sizeof(T), true), (sh.M + 63) / 64 * 64);
    const int64_t blocks = (sh.M + B - 1) / B;
    const bool stream = !sh.x_repeated && sh.T * sh.M * static_cast<int64_t>(sizeof(T)) >= stream_bytes;
    // dL/dalpha: one partial sum per block, added up in block order afterwards (the same result for any
    // thread count).
    std::vector<double> alpha_part(grad_alpha ? static_cast<size_t>(blocks) : 0, 0.0);
    for_each_block<T>(blocks, (6 + sh.T) * B, [&](int64_t b, T * scratch) {
        T * th = scratch;
        T * v = th + B;
        T * gv = v + B;
        T * row = gv + B;
        T * v0b = row + B;
        T * ga = v0b + B;
        T * ub = ga + B;
        const int64_t j0 = b * B;
        const int64_t n = std::min(B, sh.M - j0);
        fill_block(vth, sh, j0, n, th);
        fill_block(v0, sh, j0, n, v);
        if (grad_v) {
            std::copy(grad_v + j0, grad_v + j0 + n, gv);
        } else {
            std::fill(gv, gv + n, T(0));
        }
        const int64_t xs = sh.x_repeated ? 0 : sh.M;
        block_args<T> args{sh.T, sh.M, xs, n, x + j0, grad_spikes + j0, grad_x + j0, th, v, gv, ub, row, stream};
        if (sh.x_repeated) { // grad_x is the step's [M]: summed in place
            std::fill(grad_x + j0, grad_x + j0 + n, T(0));
            args.sum_steps = true;
        }
        if (grad_alpha) {
            std::copy(v, v + n, v0b);
            std::fill(ga, ga + n, T(0));
            args.v0b = v0b;
            args.ga = ga;
        }
        run_backward_block<T>(p, args);
        if (grad_v0) std::copy(gv, gv + n, grad_v0 + j0);
        if (grad_alpha) {
            double sum = 0.0;
            for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(ga[i]);
            alpha_part[static_cast<size_t>(b)] = sum;
        }
    });
    if (grad_alpha) {
        for (const double part : alpha_part) *grad_alpha += part;
    }
}

template bool neuron_forward_kernel<float>(const neuron_params &, const neuron_shape &, const float *,
                                           neuron_fill<float>, neuron_fill<float>, float *, float *, const float *,
                                           const spike_sink<float> *);
template bool neuron_forward_kernel<double>(const neuron_params &, const neuron_shape &, const double *,
                                            neuron_fill<double>, neuron_fill<double>, double *, double *,
                                            const double *, const spike_sink<double> *);
template void neuron_backward_kernel<float>(const neuron_params &, const neuron_shape &, const float *,
                                            neuron_fill<float>, neuron_fill<float>, const float *, const float *,
                                            float *, float *, double *);
template void neuron_backward_kernel<double>(const neuron_params &, const neuron_shape &, const double *,
                                             neuron_fill<double>, neuron_fill<double>, const double *,
                                             const double *, double *, double *, double *);

} // namespace snnkit::kernel
