// bench_neuron: the fused LIF neuron against the per-step ATen reference, forward + backward.
//
// Usage: bench_neuron [--threads N] [--reps R] [--warmup W] [--quick] [--default-malloc]
// Runs as snnkit programs do (snnkit::runtime_init: N threads, glibc malloc tuned for reuse) unless
// --default-malloc (then glibc's settings come from the environment, e.g. GLIBC_TUNABLES, as for any process).
// Every timing below runs W untimed warm-up runs, then R timed runs.
// For x [8,128,64,16,16] and [32,32,64,16,16] (16.8 M neuron-steps each), LIF alpha = 0.5, soft reset, atan:
//   * wall time of forward + backward (spikes.backward(g)) for the fused op and the reference: median, min,
//     max, and every timed run on a "TIMES <key> <tag> <ms> ..." line;
//   * peak extra CPU memory during forward + backward, measured by a counting c10 CPU allocator installed
//     with c10::SetCPUAllocator (bytes above what was live before the forward: x and g are not counted);
//     also the bytes held between forward and backward (outputs + what autograd saved);
//   * the fused kernel alone on preallocated buffers, as bytes/s over the bytes it must move
//     (forward: read x, write spikes; backward: read x, read grad, write grad_x), against a 2-array stream
//     copy measured in the same run (read + write counted, as STREAM does);
//   * the backward kernel alone under each surrogate (hard reset), first shape only.
// "RESULT", "TIMES" and "INFO" lines are machine-readable (bench/run_neuron.sh turns them into a table).
#include "snnkit/core/runtime.h"
#include "snnkit/neuron/neuron.h"
#include "snnkit/neuron/neuron_kernel.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define SNNKIT_ALLOCATE_CONST       // LibTorch >= 2.3: Allocator::allocate is non-const, copy_data is required
#define SNNKIT_ALLOCATOR_COPY_DATA 1
#else
#define SNNKIT_ALLOCATE_CONST const
#define SNNKIT_ALLOCATOR_COPY_DATA 0
#endif

namespace {

// ---- Counting CPU allocator: wraps the default one, tracks live and peak bytes ----

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

struct counted_block {
    c10::DataPtr inner;
    int64_t bytes;
};

void counted_delete(void * p) {
    auto * b = static_cast<counted_block *>(p);
    g_live -= b->bytes;
    delete b;
}

struct counting_allocator final : public c10::Allocator {
    c10::Allocator * base;
    explicit counting_allocator(c10::Allocator * b) : base(b) {}

    c10::DataPtr allocate(size_t n) SNNKIT_ALLOCATE_CONST override {
        c10::DataPtr inner = base->allocate(n);
        void * data = inner.get();
        auto * b = new counted_block{std::move(inner), static_cast<int64_t>(n)};
        const int64_t now = g_live += static_cast<int64_t>(n);
        int64_t peak = g_peak.load();
        while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
        }
        return {data, b, &counted_delete, c10::Device(c10::DeviceType::CPU)};
    }
#if SNNKIT_ALLOCATOR_COPY_DATA
    void copy_data(void * dest, const void * src, std::size_t count) const override { std::memcpy(dest, src, count); }
#endif
};

// ---- Timing ----

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// `warmup` untimed runs, then `reps` timed runs; the times in ms, sorted.
std::vector<double> times_ms(const std::function<void()> & fn, int reps, int warmup) {
    for (int i = 0; i < warmup; ++i) fn();
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const double t0 = now_ms();
        fn();
        t.push_back(now_ms() - t0);
    }
    std::sort(t.begin(), t.end());
    return t;
}

double median_ms(const std::function<void()> & fn, int reps, int warmup) {
    const std::vector<double> t = times_ms(fn, reps, warmup);
    return t[t.size() / 2];
}

struct memory_use {
    int64_t held_after_forward = 0; // outputs + saved for backward
    int64_t peak = 0;               // peak extra during forward + backward
};

using neuron_fn = snnkit::neuron_result (*)(const at::Tensor &, const at::Tensor &, const at::Tensor &,
                                            const snnkit::neuron_options &);

memory_use measure_memory(neuron_fn fn, const at::Tensor & x, const at::Tensor & vth, const at::Tensor & g,
                          const snnkit::neuron_options & opt) {
    const at::Tensor xr = x.detach().requires_grad_(true);
    memory_use m;
    const int64_t base = g_live.load();
    g_peak = base;
    {
        snnkit::neuron_result r = fn(xr, vth, at::Tensor(), opt);
        m.held_after_forward = g_live.load() - base;
        r.spikes.backward(g);
    }
    m.peak = g_peak.load() - base;
    xr.mutable_grad().reset();
    return m;
}

// ---- Stream copy: a plain loop over two arrays of 128 MiB (4x the L3), read + write counted as STREAM does ----

struct stream_copy {
    static constexpr int64_t n = int64_t(1) << 25;
    std::vector<float> a = std::vector<float>(static_cast<size_t>(n), 1.0f);
    std::vector<float> b = std::vector<float>(static_cast<size_t>(n), 0.0f);
    void run() {
        const float * __restrict pa = a.data();
        float * __restrict pb = b.data();
        at::parallel_for(0, n, 1 << 16, [&](int64_t b0, int64_t b1) {
            for (int64_t i = b0; i < b1; ++i) pb[i] = pa[i];
        });
    }
    static double bytes() { return 2.0 * static_cast<double>(n) * sizeof(float); }
};

void result(const char * key, const std::string & tag, double value) {
    std::printf("RESULT %s %s %.6g\n", key, tag.c_str(), value);
}

// Every timed run, for bench/run_neuron.sh, which pools them over its rounds.
void times_line(const char * key, const std::string & tag, const std::vector<double> & t) {
    std::printf("TIMES %s %s", key, tag.c_str());
    for (const double v : t) std::printf(" %.6g", v);
    std::printf("\n");
}

} // namespace

int main(int argc, char ** argv) {
    int threads = 2;
    int reps = 9;
    int warmup = 3;
    bool quick = false;
    bool tune_malloc = true;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--threads" && i + 1 < argc) {
            threads = std::stoi(argv[++i]);
        } else if (a == "--reps" && i + 1 < argc) {
            reps = std::stoi(argv[++i]);
        } else if (a == "--warmup" && i + 1 < argc) {
            warmup = std::stoi(argv[++i]);
        } else if (a == "--quick") {
            quick = true;
        } else if (a == "--default-malloc") {
            tune_malloc = false;
        } else if (a == "--help" || a == "-h") {
            std::printf("usage: bench_neuron [--threads N] [--reps R] [--warmup W] [--quick] [--default-malloc]\n");
            return 0;
        } else {
            std::fprintf(stderr, "usage: bench_neuron [--threads N] [--reps R] [--warmup W] [--quick] [--default-malloc]\n");
            return 2;
        }
    }
    snnkit::runtime_init(threads, tune_malloc ? snnkit::runtime_memory::reuse : snnkit::runtime_memory::system);
    static counting_allocator counter(c10::GetCPUAllocator());
    c10::SetCPUAllocator(&counter, /*priority=*/100);

    if (reps < 1 || warmup < 0) {
        std::fprintf(stderr, "bench_neuron: --reps must be >= 1 and --warmup >= 0 (got %d, %d)\n", reps, warmup);
        return 2;
    }
    std::printf("bench_neuron: libtorch %s, %d threads, %d warm-up + %d timed runs, glibc malloc %s\n", TORCH_VERSION,
                at::get_num_threads(), warmup, reps,
                tune_malloc ? "tuned for reuse (snnkit::runtime_init)" : "as the environment sets it (no mallopt)");
    std::printf("INFO libtorch %s\n", TORCH_VERSION);
    stream_copy copier;

    snnkit::neuron_options opt;
    opt.alpha = 0.5;
    opt.reset = snnkit::reset_mode::soft;
    opt.surrogate.kind = snnkit::surrogate_kind::atan;
    const at::Tensor vth = at::scalar_tensor(1.0);

    const std::vector<std::vector<int64_t>> shapes = {{8, 128, 64, 16, 16}, {32, 32, 64, 16, 16}};
    for (const auto & shape : shapes) {
        const std::string tag = "T" + std::to_string(shape[0]);
        at::manual_seed(0);
        const at::Tensor x = at::randn(shape) * 0.6 + 0.4;
        const at::Tensor g = at::randn(shape);
        const int64_t T = shape[0];
        const int64_t M = x.numel() / T;
        std::printf("\nx [%ld, %ld, %ld, %ld, %ld]: %.1f M neuron-steps\n", shape[0], shape[1], shape[2], shape[3],
                    shape[4], static_cast<double>(x.numel()) / 1e6);

        auto fwd_bwd = [&](neuron_fn fn) {
            return [&, fn] {
                const at::Tensor xr = x.detach().requires_grad_(true);
                snnkit::neuron_result r = fn(xr, vth, at::Tensor(), opt);
                r.spikes.backward(g);
            };
        };
        // The same warm-up and repetitions for both (and for the Python contenders in bench/run_neuron.sh).
        const std::vector<double> t_fused = times_ms(fwd_bwd(&snnkit::neuron_forward), reps, warmup);
        const double fused = t_fused[t_fused.size() / 2];
        const double fused_fwd = median_ms([&] { snnkit::neuron_forward(x, vth, at::Tensor(), opt); }, reps, warmup);
        std::printf("  fused     fwd+bwd %8.2f ms (min %.2f, max %.2f)   (forward only %.2f ms)\n", fused, t_fused.front(),
                    t_fused.back(), fused_fwd);
        result("fused_ms", tag, fused);
        result("fused_fwd_ms", tag, fused_fwd);
        times_line("fused_ms", tag, t_fused);
        if (!quick) {
            const std::vector<double> t_ref = times_ms(fwd_bwd(&snnkit::neuron_forward_reference), reps, warmup);
            const double ref = t_ref[t_ref.size() / 2];
            std::printf("  reference fwd+bwd %8.2f ms (min %.2f, max %.2f)   (%.2fx)\n", ref, t_ref.front(), t_ref.back(),
                        ref / fused);
            result("ref_ms", tag, ref);
            times_line("ref_ms", tag, t_ref);
        }

        // Memory: counted by the allocator hook.
        const memory_use mf = measure_memory(&snnkit::neuron_forward, x, vth, g, opt);
        const memory_use mr = measure_memory(&snnkit::neuron_forward_reference, x, vth, g, opt);
        const double mib = 1024.0 * 1024.0;
        const double xbytes = static_cast<double>(x.nbytes());
        std::printf("  memory (x is %.0f MiB): fused peak extra %.0f MiB (held fwd->bwd %.0f), reference peak extra "
                    "%.0f MiB (held %.0f); ratio %.3f\n",
                    xbytes / mib, mf.peak / mib, mf.held_after_forward / mib, mr.peak / mib,
                    mr.held_after_forward / mib, static_cast<double>(mf.peak) / static_cast<double>(mr.peak));
        // What every implementation must allocate: spikes [T, M], the final v [M] and x.grad [T, M].
        const double outputs = 2 * xbytes + static_cast<double>(M) * sizeof(float);
        std::printf("  beyond the outputs (spikes, v, x.grad = %.0f MiB): fused %.1f MiB, reference %.1f MiB; ratio %.3f\n",
                    outputs / mib, (mf.peak - outputs) / mib, (mr.peak - outputs) / mib,
                    (mf.peak - outputs) / (mr.peak - outputs));
        result("fused_beyond_mib", tag, (mf.peak - outputs) / mib);
        result("ref_beyond_mib", tag, (mr.peak - outputs) / mib);
        result("fused_peak_mib", tag, mf.peak / mib);
        result("ref_peak_mib", tag, mr.peak / mib);
        result("fused_held_mib", tag, mf.held_after_forward / mib);
        result("ref_held_mib", tag, mr.held_after_forward / mib);

        // The kernel alone on preallocated, already-touched buffers.
        namespace k = snnkit::kernel;
        k::neuron_params p;
        p.alpha = opt.alpha;
        p.kind = opt.surrogate.kind;
        p.param = snnkit::surrogate_param(opt.surrogate);
        k::neuron_shape sh{T, M, shape[2], shape[3] * shape[4]};
        at::Tensor s = at::zeros_like(x), v = at::zeros({M}), gx = at::zeros_like(x);
        const float th = 1.0f;
        const k::neuron_fill<float> vf{k::fill_kind::scalar, &th}, v0f{k::fill_kind::zero, nullptr};
        // Interleaved with the stream copy (copy, forward, backward, copy, ...) so that both see the same
        // machine load; medians of each.
        std::vector<double> tc, tf, tb;
        for (int r = -warmup; r < reps; ++r) {
            double t0 = now_ms();
            copier.run();
            double t1 = now_ms();
            k::neuron_forward_kernel<float>(p, sh, x.data_ptr<float>(), vf, v0f, s.data_ptr<float>(), v.data_ptr<float>());
            double t2 = now_ms();
            k::neuron_backward_kernel<float>(p, sh, x.data_ptr<float>(), vf, v0f, g.data_ptr<float>(), nullptr,
                                             gx.data_ptr<float>(), nullptr);
            double t3 = now_ms();
            if (r < 0) continue; // warm-up
            tc.push_back(t1 - t0);
            tf.push_back(t2 - t1);
            tb.push_back(t3 - t2);
        }
        for (auto * t : {&tc, &tf, &tb}) std::sort(t->begin(), t->end());
        const double kc = tc[tc.size() / 2], kf = tf[tf.size() / 2], kb = tb[tb.size() / 2];
        const double copy = stream_copy::bytes() / (kc * 1e6);
        const double n = static_cast<double>(x.numel()) * sizeof(float);
        const double fwd_bytes = 2 * n + M * 4.0;
        const double bwd_bytes = 3 * n;
        const double gbps = (fwd_bytes + bwd_bytes) / ((kf + kb) * 1e6);
        std::printf("  kernel alone: forward %.2f ms (%.2f GB/s), backward %.2f ms (%.2f GB/s); fwd+bwd %.2f GB/s;\n"
                    "  stream copy %.2f GB/s (2 x 128 MiB, interleaved) -> kernel at %.0f%% of copy\n",
                    kf, fwd_bytes / (kf * 1e6), kb, bwd_bytes / (kb * 1e6), gbps, copy, 100.0 * gbps / copy);
        result("copy_gbps", tag, copy);
        result("kernel_fwd_ms", tag, kf);
        result("kernel_bwd_ms", tag, kb);
        result("kernel_gbps", tag, gbps);

        // The backward kernel under each surrogate (hard reset, as train-snn's default): the exp-based ones
        // (exp, sigmoid, Dspike) should cost about what atan does, since their float e^z is vectorised too.
        if (shape != shapes.front()) continue;
        std::vector<std::pair<std::string, double>> by_kind;
        for (const auto kind : {snnkit::surrogate_kind::rect, snnkit::surrogate_kind::triangle, snnkit::surrogate_kind::exp,
                                snnkit::surrogate_kind::sigmoid, snnkit::surrogate_kind::atan, snnkit::surrogate_kind::dspike}) {
            k::neuron_params q = p;
            q.soft = false;
            q.kind = kind;
            snnkit::surrogate_options so;
            so.kind = kind;
            q.param = snnkit::surrogate_param(so);
            by_kind.emplace_back(snnkit::surrogate_to_string(kind), median_ms([&] {
                k::neuron_backward_kernel<float>(q, sh, x.data_ptr<float>(), vf, v0f, g.data_ptr<float>(), nullptr,
                                                 gx.data_ptr<float>(), nullptr);
            }, reps, warmup));
        }
        std::printf("  backward kernel alone by surrogate (hard reset, median of %d):\n   ", reps);
        for (const auto & [name, ms] : by_kind) std::printf(" %s %.2f ms", name.c_str(), ms);
        std::printf("\n");
        for (const auto & [name, ms] : by_kind) result(("kernel_bwd_ms_" + name).c_str(), tag, ms);
    }
    return 0;
}
