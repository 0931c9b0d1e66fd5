// bench/bench_common.h: small helpers the C++ benchmarks share (comma lists, wall-clock timing, median [min, max]).
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <sstream>
#include <string>
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

} // namespace bench
