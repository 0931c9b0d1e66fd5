// bench/bench_allreduce.cpp: Gloo all-reduce time against message size and rank count on this machine's
// loopback, through snnkit's process_group (c10d ProcessGroupGloo over a TCPStore): the measured points of the
// communication model in docs/dist.md. It starts its own ranks (snnkit::launch_workers, as `--nproc`); rank 0
// prints one JSON line per size: {"ranks", "bytes", "median_us", "min_us", "max_us", "cpu_us", "reps"},
// cpu_us being the median CPU time rank 0's process spent on one all-reduce (all its threads: Gloo's, c10d's).
// With --params it prints instead the gradient bytes per step of the zoo nets the docs project ({"arch",
// "params", "bytes"}).
//
// usage: bench_allreduce [--ranks 2] [--sizes 4096,65536,...] [--reps 20] [--comm-sched off|defer]
//                        [--allreduce auto|ring] | --params
#include "snnkit/core/clock.h"
#include "snnkit/dist/dist_options.h"
#include "snnkit/dist/launch.h"
#include "snnkit/dist/process_group.h"
#include "snnkit/nn/zoo.h"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace {

int print_params() {
    const struct {
        const char * arch;
        std::vector<int64_t> shape;
    } nets[] = {{"cnn", {1, 28, 28}}, {"resnet20-he", {3, 32, 32}}, {"resnet20", {3, 32, 32}}, {"vgg16", {3, 32, 32}}};
    for (const auto & n : nets) {
        snnkit::zoo_options zo;
        zo.arch = n.arch;
        zo.input_shape = n.shape;
        int64_t p = 0;
        for (const auto & kv : snnkit::zoo_build(zo).named_params()) {
            p += kv.second.numel();
        }
        std::printf("%s\n", nlohmann::json({{"arch", n.arch}, {"input", n.shape}, {"params", p}, {"bytes", 4 * p}})
                                .dump()
                                .c_str());
    }
    return 0;
}

int worker(const std::vector<int64_t> & sizes, int reps, const std::string & comm_sched,
           const std::string & allreduce) {
    at::set_num_threads(1);
    snnkit::dist_options o = snnkit::dist_options_from_env(60.0);
    snnkit::set_comm_sched(o, comm_sched, allreduce); // as snnkit's --comm-sched and --allreduce
    snnkit::process_group pg(o);
    for (const int64_t bytes : sizes) {
        at::Tensor t = at::ones({std::max<int64_t>(1, bytes / 4)}, at::kFloat);
        at::Tensor sync = at::zeros({1}, at::kFloat);
        std::vector<double> us, cpu_us;
        for (int i = 0; i < reps + 3; ++i) {
            pg.all_reduce_sum(sync, "sync"); // start together
            const double c0 = snnkit::process_cpu_seconds();
            const auto t0 = snnkit::clock_now();
            pg.all_reduce_sum(t, "all-reduce");
            if (i >= 3) {
                us.push_back(1e6 * snnkit::seconds_since(t0));
                cpu_us.push_back(1e6 * (snnkit::process_cpu_seconds() - c0));
            }
        }
        std::sort(us.begin(), us.end());
        std::sort(cpu_us.begin(), cpu_us.end());
        if (pg.rank() == 0) {
            std::printf("%s\n", nlohmann::json({{"ranks", pg.world_size()},
                                                {"bytes", bytes},
                                                {"median_us", us[us.size() / 2]},
                                                {"min_us", us.front()},
                                                {"max_us", us.back()},
                                                {"cpu_us", cpu_us[cpu_us.size() / 2]},
                                                {"comm_sched", comm_sched},
                                                {"allreduce", pg.exchanges(t.nbytes()) ? "pair exchange" : "gloo ring"},
                                                {"reps", reps}})
                                    .dump()
                                    .c_str());
            std::fflush(stdout);
        }
    }
    return 0;
}

} // namespace

int main(int argc, char ** argv) {
    int ranks = 2, reps = 20;
    std::string comm_sched = "off", allreduce = "auto";
    std::vector<int64_t> sizes = {4096, 65536, 262144, 1048576, 4194304, 16777216};
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            std::printf("usage: bench_allreduce [--ranks 2] [--sizes 4096,65536,...] [--reps 20] "
                        "[--comm-sched off|defer] [--allreduce auto|ring] | --params\n");
            return 0;
        }
        if (k == "--params") {
            return print_params();
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "%s needs a value\n", argv[i]);
            return 2;
        }
        const std::string v = argv[++i];
        if (k == "--ranks") {
            ranks = std::stoi(v);
        } else if (k == "--comm-sched") {
            comm_sched = v;
        } else if (k == "--allreduce") {
            allreduce = v;
        } else if (k == "--reps") {
            reps = std::stoi(v);
        } else if (k == "--sizes") {
            sizes.clear();
            std::stringstream ss(v);
            for (std::string s; std::getline(ss, s, ',');) {
                sizes.push_back(std::stoll(s));
            }
        } else {
            std::fprintf(stderr, "unknown option %s\n", argv[i - 1]);
            return 2;
        }
    }
    try {
        snnkit::dist_options check;
        snnkit::set_comm_sched(check, comm_sched, allreduce); // an unknown value fails here, before any worker starts
        if (snnkit::dist_env_present()) {
            return worker(sizes, reps, comm_sched, allreduce);
        }
        snnkit::launch_options lo;
        lo.nproc = ranks;
        lo.argv.assign(argv, argv + argc);
        lo.argv[0] = "/proc/self/exe";
        const snnkit::launch_result r = snnkit::launch_workers(lo);
        if (r.status != 0) {
            std::fprintf(stderr, "bench_allreduce: %s\n", r.failure.c_str());
        }
        return r.status;
    } catch (const std::exception & e) {
        std::fprintf(stderr, "bench_allreduce: %s\n", e.what());
        return 1;
    }
}
