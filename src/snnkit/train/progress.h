// snnkit/train/progress.h: a progress line with rate and ETA for long work (training, calibration, eval).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace snnkit {

class progress_bar {
public:
    // label: shown first ("epoch 3/10"); total: number of work items; enabled = false prints nothing.
    progress_bar(std::string label, int64_t total, bool enabled = true);
    // Reports `done` items finished; `extra` is appended ("loss 0.31 acc 89.2%"). Redraws at most 5x/s
    // on a terminal; off a terminal, prints a line at each quarter.
    void update(int64_t done, const std::string & extra = "");
    // Final line (always printed when enabled), with the elapsed time.
    void finish(const std::string & extra = "");
    double elapsed_seconds() const;

private:
    std::string label_;
    int64_t total_;
    bool enabled_;
    bool tty_;
    int last_quarter_ = 0;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_draw_;
};

// "1h02m", "3m05s", "12.3s"
std::string format_duration(double seconds);

} // namespace snnkit
