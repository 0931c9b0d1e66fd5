// bench/bench_common.h: small helpers the C++ benchmarks share (comma lists, wall-clock timing, median [min, max],
// the machine's CPU-to-CPU round trip).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace bench {

// "a,b,c" -> {"a", "b", "c"}
inline std::vector<std::string> split(const std::string & s) {
    std::vector<std::string> r;
    std::stringstream ss(s);
    for (std::string p; std::getline(ss, p, ',');) {
        r.push_back(p);
    }
    return r;
}

// Wall-clock milliseconds of one call of f.
inline double ms_of(const std::function<void()> & f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct stat3 {
    double med, lo, hi;
};

// Median (the upper one of an even count), min and max of v (not empty).
inline stat3 stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v.front(), v.back()};
}

// Nanoseconds for a cache line to go from one thread to another and back (two threads taking turns on an atomic,
// median of 5 rounds of 20,000 turns). Where the two threads' CPUs share a cache this is about 100 ns; on this
// project's virtual machine the two CPUs are at times placed apart and it is about 400 ns: operations split over
// the threads then pay for every line that one thread writes and the other reads (snnkit/core/parallel_items.h).
inline double cpu_round_trip_ns() {
    constexpr int turns = 20000;
    std::vector<double> rounds;
    for (int r = 0; r < 5; ++r) {
        alignas(64) std::atomic<int> flag{0};
        std::thread other([&] {
            for (int i = 0; i < turns; ++i) {
                while (flag.load(std::memory_order_acquire) != 2 * i + 1) {
                }
                flag.store(2 * i + 2, std::memory_order_release);
            }
        });
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < turns; ++i) {
            flag.store(2 * i + 1, std::memory_order_release);
            while (flag.load(std::memory_order_acquire) != 2 * i + 2) {
            }
        }
        const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
        other.join();
        rounds.push_back(ns / turns);
    }
    return stats(rounds).med;
}

} // namespace bench
