// snnkit/core/clock.h: wall-clock intervals for the timings that runs report (training, calibration, FDG), and
// the process's CPU time beside them.
#pragma once

#include <chrono>
#include <ctime>

namespace snnkit {

using clock_point = std::chrono::steady_clock::time_point;

// Now, on the monotonic clock every reported duration uses.
inline clock_point clock_now() { return std::chrono::steady_clock::now(); }

// Seconds from t0 until now.
inline double seconds_since(clock_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds this process (all its threads) has used so far, user and system.
inline double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

} // namespace snnkit
