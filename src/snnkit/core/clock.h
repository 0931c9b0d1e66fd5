// snnkit/core/clock.h: wall-clock intervals for the timings that runs report (training, calibration, FDG).
#pragma once

#include <chrono>

namespace snnkit {

using clock_point = std::chrono::steady_clock::time_point;

// Now, on the monotonic clock every reported duration uses.
inline clock_point clock_now() { return std::chrono::steady_clock::now(); }

// Seconds from t0 until now.
inline double seconds_since(clock_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace snnkit
