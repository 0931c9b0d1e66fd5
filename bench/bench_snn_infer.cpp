// bench/bench_snn_infer.cpp: converted-SNN inference throughput, snnkit's executor (time folded into the batch,
// every spiking layer one fused multi-step kernel call, the static prefix computed once) against the same
// network simulated the way SNN_Calibration and SpikingJelly's step mode do it: a loop over time steps, each
// step a whole-network forward with stateful neurons. The loop runs here in C++ on the same ATen ops and the
// same neuron (one kernel call per layer and step, the potential carried between steps), so it is that
// baseline without Python's per-op overhead: the stronger, honest version of it. Both contenders in one
// process, same threads and allocator, the same warm-up and repetitions, alternating; the outputs are checked
// equal before timing. Prints images/s median [min, max] and the ratio per (arch, T); target >= 3x at T = 32
// for resnet20-he and vgg16.
//
// usage: bench_snn_infer [--arch cnn,resnet20-he,vgg16] [--T 4,8,32] [--batch 16] [--reps 5] [--warmup 2]
//                        [--threads 2] [--sparse on|off]
// --sparse on (default) adds a third contender, the executor with snn_options::sparse (event-driven conv / linear
// layers where spike_sparse.h's rule picks them from the measured input rate), checked equal to the dense one.
// The spike rates column: the spiking layers' firing rates in that run, min / median / max.
// Weights are the zoo's seeded initialisation with BN statistics and thresholds from one random batch: the
// dense ops' speed does not depend on the values; the sparse path's does (see the spike rates column).
#include "snnkit/convert/convert.h"
#include "bench_common.h"
#include "snnkit/core/runtime.h"
#include "snnkit/neuron/neuron.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/spike_sparse.h"
#include "snnkit/nn/zoo.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace {

// The per-time-step loop: step t runs every node on [N, ...]; a spike node advances its neurons one step
// from the potential it holds. Returns the output summed over the T steps, [N, classes].
at::Tensor per_step_loop(const snnkit::graph & g, const at::Tensor & x, int64_t T) {
    std::vector<at::Tensor> v(g.nodes.size()); // membrane potential per spike node
    std::vector<at::Tensor> val(g.nodes.size());
    std::vector<at::Tensor> ins;
    at::Tensor sum;
    for (int64_t t = 0; t < T; ++t) {
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            const snnkit::node & n = g.nodes[i];
            if (n.op == snnkit::op_kind::input) {
                val[i] = x;
            } else if (n.op == snnkit::op_kind::spike) {
                const at::Tensor in = val[n.inputs[0]].unsqueeze(0); // [1, N, ...]
                at::Tensor v0 = v[i];
                if (!v0.defined()) {
                    v0 = n.tensor("v0");
                    if (v0.defined() && v0.dim() >= 1 && v0.dim() == in.dim() - 2) {
                        v0 = v0.unsqueeze(0).expand(in.sizes().slice(1)).contiguous();
                    }
                }
                const snnkit::neuron_result r = snnkit::neuron_forward(in, n.tensor("v_th"), v0, n.tensor("alpha"), n.attrs.neuron);
                v[i] = r.v;
                val[i] = r.spikes.squeeze(0);
            } else {
                ins.clear();
                for (int j : n.inputs) {
                    ins.push_back(val[j]);
                }
                val[i] = snnkit::apply_op(n, ins, false);
            }
        }
        sum = sum.defined() ? sum + val.back() : val.back().clone();
    }
    return sum;
}

at::Tensor fused(const snnkit::graph & g, const at::Tensor & x, int64_t T, bool sparse = false) {
    snnkit::snn_options so;
    so.T = T;
    so.sparse = sparse;
    return snnkit::snn_forward(g, x, so).out.sum(0);
}

// The spike layers' firing rates in one run: "min / median / max" in percent.
std::string rates_of(const snnkit::graph & g, const at::Tensor & x, int64_t T) {
    snnkit::snn_options so;
    so.T = T;
    std::vector<double> r;
    so.observer = [&](int, const snnkit::node & n, const at::Tensor & out) {
        if (n.op == snnkit::op_kind::spike) {
            r.push_back(100.0 * snnkit::nonzero_fraction(out));
        }
    };
    snnkit::snn_forward(g, x, so);
    std::sort(r.begin(), r.end());
    char b[96];
    std::snprintf(b, sizeof b, "%.2f / %.2f / %.2f %%", r.front(), r[r.size() / 2], r.back());
    return b;
}

} // namespace

int main(int argc, char ** argv) {
    std::string arch_list = "cnn,resnet20-he,vgg16", t_list = "4,8,32";
    int64_t batch = 16, reps = 5, warmup = 2;
    int threads = 2;
    bool sparse = true;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], val = argv[i + 1];
        if (k == "--arch") arch_list = val;
        else if (k == "--T") t_list = val;
        else if (k == "--batch") batch = std::stoll(val);
        else if (k == "--reps") reps = std::stoll(val);
        else if (k == "--warmup") warmup = std::stoll(val);
        else if (k == "--threads") threads = std::stoi(val);
        else if (k == "--sparse") sparse = val == "on";
        else {
            std::fprintf(stderr, "bench_snn_infer: unknown flag %s\n", k.c_str());
            return 2;
        }
    }
    snnkit::runtime_init(threads);
    at::NoGradGuard ng;
    std::printf("converted-SNN inference, batch %lld, %d threads, %lld warm-up + %lld timed runs each, alternating\n",
                static_cast<long long>(batch), at::get_num_threads(), static_cast<long long>(warmup),
                static_cast<long long>(reps));
    std::printf("| arch | T | spike rates | snnkit images/s | per-step loop images/s | ratio | snnkit + sparse layers "
                "images/s | its ratio | target |\n|---|---|---|---|---|---|---|---|---|\n");
    for (const std::string & arch : bench::split(arch_list)) {
        snnkit::zoo_options zo;
        zo.arch = arch;
        zo.input_shape = arch == "cnn" ? std::vector<int64_t>{1, 28, 28} : std::vector<int64_t>{3, 32, 32};
        snnkit::graph ann = snnkit::zoo_build(zo);
        std::vector<int64_t> shape{batch};
        shape.insert(shape.end(), zo.input_shape.begin(), zo.input_shape.end());
        at::manual_seed(0);
        const at::Tensor x = at::randn(shape);
        {
            snnkit::forward_options fo;
            fo.train = true; // BN running statistics from this batch
            at::NoGradGuard g2;
            snnkit::ann_forward(ann, x, fo);
        }
        snnkit::record_activation_stats(ann, x);
        for (const std::string & ts : bench::split(t_list)) {
            const int64_t T = std::stoll(ts);
            snnkit::convert_options co;
            co.T = T;
            const snnkit::graph snn = snnkit::convert_to_snn(ann, co);
            const at::Tensor a = fused(snn, x, T), b = per_step_loop(snn, x, T), c = fused(snn, x, T, true);
            for (const at::Tensor * o : {&b, &c}) {
                if (!at::allclose(a, *o, 1e-4, 1e-4)) {
                    std::fprintf(stderr, "bench_snn_infer: %s T=%lld: the %s differs from the executor (max %g)\n",
                                 arch.c_str(), static_cast<long long>(T),
                                 o == &b ? "per-step loop" : "executor with sparse layers",
                                 (a - *o).abs().max().item<double>());
                    return 1;
                }
            }
            std::vector<double> fa, fb, fc;
            for (int64_t r = 0; r < warmup + reps; ++r) {
                const double ma = bench::ms_of([&] { fused(snn, x, T); });
                const double mb = bench::ms_of([&] { per_step_loop(snn, x, T); });
                const double mc = sparse ? bench::ms_of([&] { fused(snn, x, T, true); }) : 1.0;
                if (r >= warmup) {
                    fa.push_back(static_cast<double>(batch) * 1000.0 / ma);
                    fb.push_back(static_cast<double>(batch) * 1000.0 / mb);
                    fc.push_back(static_cast<double>(batch) * 1000.0 / mc);
                }
            }
            const bench::stat3 sa = bench::stats(fa), sb = bench::stats(fb), sc = bench::stats(fc);
            const double ratio = sa.med / sb.med;
            const bool has_target = T == 32 && arch != "cnn";
            char target[64] = "-";
            if (has_target) {
                std::snprintf(target, sizeof target, ratio >= 3.0 ? "[ok] >= 3x" : "[MISSED: %.3fx < 3x]", ratio);
            }
            char sp[160] = "- | -";
            if (sparse) {
                std::snprintf(sp, sizeof sp, "%.1f [%.1f, %.1f] | %.3fx", sc.med, sc.lo, sc.hi, sc.med / sb.med);
            }
            std::printf("| %s | %lld | %s | %.1f [%.1f, %.1f] | %.1f [%.1f, %.1f] | %.3fx | %s | %s |\n", arch.c_str(),
                        static_cast<long long>(T), rates_of(snn, x, T).c_str(), sa.med, sa.lo, sa.hi, sb.med, sb.lo,
                        sb.hi, ratio, sp, target);
            std::fflush(stdout);
        }
    }
    return 0;
}
