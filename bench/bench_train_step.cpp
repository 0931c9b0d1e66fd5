// bench/bench_train_step.cpp: time of one ANN training step (forward, cross-entropy, backward, SGD with
// momentum and weight decay) of a zoo architecture, for the side-by-side comparison with PyTorch Python
// (bench/py/train_step.py; bench/run_train_step.sh prints the ratio).
//
// usage: bench_train_step [--arch cnn] [--batch 128] [--steps 30] [--threads 2] [--shape 1,28,28]
#include "bench_args.h"
#include "snnkit/core/runtime.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/zoo.h"
#include "snnkit/optim/optimizer.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char ** argv) {
    std::string arch = "cnn", shape = "1,28,28";
    int64_t batch = 128, steps = 30, threads = 2;
    bench::parse_flag_pairs(argc, argv,
                            "usage: bench_train_step [--arch cnn] [--batch 128] [--steps 30] [--threads 2] [--shape 1,28,28]",
                            [&](const std::string & k, const std::string & v) {
                                if (k == "--arch") arch = v;
                                else if (k == "--batch") batch = std::stoll(v);
                                else if (k == "--steps") steps = std::stoll(v);
                                else if (k == "--threads") threads = std::stoll(v);
                                else if (k == "--shape") shape = v;
                                else return false;
                                return true;
                            });
    snnkit::runtime_init(static_cast<int>(threads));
    snnkit::zoo_options zo;
    zo.arch = arch;
    zo.input_shape.clear();
    std::stringstream ss(shape);
    for (std::string t; std::getline(ss, t, ',');) zo.input_shape.push_back(std::stoll(t));
    snnkit::graph g = snnkit::zoo_build(zo);
    for (auto & kv : g.named_params()) kv.second.requires_grad_(true);
    snnkit::optimizer_options oo;
    oo.lr = 0.01;
    snnkit::optimizer opt(g.named_params(), oo);
    std::vector<int64_t> xs{batch};
    xs.insert(xs.end(), zo.input_shape.begin(), zo.input_shape.end());
    at::manual_seed(0);
    const at::Tensor x = at::randn(xs);
    const at::Tensor y = at::randint(10, {batch}, at::kLong);
    std::vector<double> ms;
    snnkit::forward_options fo;
    fo.train = true;
    for (int64_t s = 0; s < steps + 5; ++s) {
        const auto t0 = std::chrono::steady_clock::now();
        opt.zero_grad();
        const at::Tensor loss = at::cross_entropy_loss(snnkit::ann_forward(g, x, fo), y);
        loss.backward();
        opt.step(0.01);
        const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (s >= 5) ms.push_back(t); // 5 warm-up steps
    }
    std::sort(ms.begin(), ms.end());
    std::printf("{\"impl\": \"snnkit\", \"arch\": \"%s\", \"batch\": %lld, \"threads\": %d, \"median_ms\": %.3f, "
                "\"min_ms\": %.3f, \"max_ms\": %.3f}\n",
                arch.c_str(), static_cast<long long>(batch), at::get_num_threads(), ms[ms.size() / 2], ms.front(),
                ms.back());
    return 0;
}
