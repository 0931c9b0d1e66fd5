// bench/bench_snn_step.cpp: one SNN training step (T steps, BPTT through the fused neuron kernel) against
// the same architecture's ANN training step, in one run, rounds interleaved so that machine noise hits
// both alike. Prints the medians and the ratio snn_step / (ann_step * T); target <= 1.3 at T = 4.
//
// usage: bench_snn_step [--arch cnn] [--batch 128] [--T 4] [--steps 10] [--rounds 5] [--threads 2]
//                       [--surrogate atan] [--shape 1,28,28] [--memory 1]
// --memory 1: no timing and no ANN; `steps` SNN steps only, then the peak resident memory above what the
// process held just before them (the training step's own memory: activations kept for BPTT, gradients,
// optimizer state), as "RESULT snn_step_peak_extra_mib ARCH MiB" (bench/run_snn_memory.sh).
#include "bench_args.h"
#include "snnkit/core/runtime.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/zoo.h"
#include "snnkit/optim/optimizer.h"
#include "snnkit/train/snn_model.h"

#include <ATen/Parallel.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Times `steps` training steps of forward_fn f on (x, y) with SGD; returns the per-step times in ms.
std::vector<double> time_steps(snnkit::graph & g, const snnkit::forward_fn & f, const at::Tensor & x,
                               const at::Tensor & y, int64_t steps) {
    snnkit::optimizer_options oo;
    oo.lr = 0.01;
    snnkit::optimizer opt(g.named_params(), oo);
    std::vector<double> ms;
    for (int64_t s = 0; s < steps; ++s) {
        const auto t0 = std::chrono::steady_clock::now();
        opt.zero_grad();
        const at::Tensor loss = at::cross_entropy_loss(f(x, true, at::Generator()), y);
        loss.backward();
        opt.step(0.01);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return ms;
}

// The resident set now (VmRSS of /proc/self/status), MiB.
double resident_mib() {
    std::ifstream f("/proc/self/status");
    for (std::string line; std::getline(f, line);) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0; // "VmRSS:  1234 kB"
    }
    return 0.0;
}

} // namespace

int main(int argc, char ** argv) {
    std::string arch = "cnn", shape = "1,28,28", surrogate = "atan";
    int64_t batch = 128, T = 4, steps = 10, rounds = 5, threads = 2;
    bool memory_only = false;
    bench::parse_flag_pairs(argc, argv,
                            "usage: bench_snn_step [--arch cnn] [--batch 128] [--T 4] [--steps 10] [--rounds 5] "
                            "[--threads 2] [--surrogate atan] [--shape 1,28,28] [--memory 0|1]",
                            [&](const std::string & k, const std::string & v) {
                                if (k == "--arch") arch = v;
                                else if (k == "--batch") batch = std::stoll(v);
                                else if (k == "--T") T = std::stoll(v);
                                else if (k == "--steps") steps = std::stoll(v);
                                else if (k == "--rounds") rounds = std::stoll(v);
                                else if (k == "--threads") threads = std::stoll(v);
                                else if (k == "--surrogate") surrogate = v;
                                else if (k == "--shape") shape = v;
                                else if (k == "--memory" && (v == "0" || v == "1")) memory_only = v == "1";
                                else return false;
                                return true;
                            });
    snnkit::runtime_init(static_cast<int>(threads));
    snnkit::zoo_options zo;
    zo.arch = arch;
    zo.input_shape.clear();
    std::stringstream ss(shape);
    for (std::string t; std::getline(ss, t, ',');) zo.input_shape.push_back(std::stoll(t));
    snnkit::graph ann = snnkit::zoo_build(zo);
    snnkit::snn_model_options so;
    so.T = T;
    so.neuron.alpha = 0.5;
    so.neuron.reset = snnkit::reset_mode::hard;
    so.neuron.surrogate.kind = snnkit::surrogate_from_string(surrogate);
    snnkit::graph snn = snnkit::snn_from_ann(ann, so);
    for (auto * g : {&ann, &snn}) {
        for (auto & kv : g->named_params()) kv.second.requires_grad_(true);
    }
    std::vector<int64_t> xs{batch};
    xs.insert(xs.end(), zo.input_shape.begin(), zo.input_shape.end());
    at::manual_seed(0);
    const at::Tensor x = at::randn(xs);
    const at::Tensor y = at::randint(zo.num_classes, {batch}, at::kLong);
    const snnkit::forward_fn fa = snnkit::ann_forward_fn(ann), fs = snnkit::snn_forward_fn(snn, T);
    if (memory_only) {
        const double before = resident_mib();
        time_steps(snn, fs, x, y, steps);
        struct rusage ru {};
        getrusage(RUSAGE_SELF, &ru);
        const double extra = static_cast<double>(ru.ru_maxrss) / 1024.0 - before;
        std::printf("%s, batch %lld, T = %lld: SNN training step peak memory %.0f MiB above the %.0f MiB held before\n",
                    arch.c_str(), static_cast<long long>(batch), static_cast<long long>(T), extra, before);
        std::printf("RESULT snn_step_peak_extra_mib %s %.6g\n", arch.c_str(), extra);
        return 0;
    }
    time_steps(ann, fa, x, y, 3); // warm-up
    time_steps(snn, fs, x, y, 3);
    std::vector<double> a_ms, s_ms;
    for (int64_t r = 0; r < rounds; ++r) {
        const auto a = time_steps(ann, fa, x, y, steps), s = time_steps(snn, fs, x, y, steps);
        a_ms.insert(a_ms.end(), a.begin(), a.end());
        s_ms.insert(s_ms.end(), s.begin(), s.end());
    }
    const double a = median(a_ms), s = median(s_ms);
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    std::printf("%s, batch %lld, %d threads, %lld rounds x %lld steps, interleaved\n", arch.c_str(),
                static_cast<long long>(batch), at::get_num_threads(), static_cast<long long>(rounds),
                static_cast<long long>(steps));
    std::printf("  ANN training step              %8.2f ms (median)\n", a);
    std::printf("  SNN training step, T = %-3lld    %8.2f ms (median; %s surrogate, LIF alpha 0.5, hard reset)\n",
                static_cast<long long>(T), s, surrogate.c_str());
    std::printf("  ratio SNN / (ANN x T) = %.3f   (target <= 1.3)   [%s]\n", s / (a * static_cast<double>(T)),
                s / (a * static_cast<double>(T)) <= 1.3 ? "ok" : "MISSED");
    std::printf("  peak RSS of this process %.0f MiB\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
    std::printf("RESULT ann_step_ms %s %.6g\nRESULT snn_step_ms %s %.6g\n", arch.c_str(), a, arch.c_str(), s);
    return 0;
}
