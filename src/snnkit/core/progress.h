// snnkit/core/progress.h: a progress line with rate and ETA for long work (training, calibration, eval).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace snnkit {

class progress_bar {
public:
    // label: shown first ("epoch 3/10"); total: number of work items; enabled = false prints nothing.
    // A resumed task passes start_done (items finished before this run) and prior_seconds (the time they
    // took): the rate and ETA then count only this run's items, and the elapsed time shown includes both.
    progress_bar(std::string label, int64_t total, bool enabled = true, int64_t start_done = 0,
                 double prior_seconds = 0);
    // Reports `done` items finished; `extra` is appended ("loss 0.31 acc 89.2%"). Redraws at most 5x/s
    // on a terminal; off a terminal, prints a line at each quarter.
    void update(int64_t done, const std::string & extra = "");
    // Final line (always printed when enabled), with the elapsed time.
    void finish(const std::string & extra = "");
    // Seconds since construction plus prior_seconds.
    double elapsed_seconds() const;

private:
    std::string label_;
    int64_t total_;
    int64_t start_done_;
    double prior_seconds_;
    bool enabled_;
    bool tty_;
    int last_quarter_ = 0;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_draw_;
};

// Seconds left when `done` of `total` items are finished, `start_done` of them before this run, and this
// run took `run_seconds` for the rest; 0 when no item was finished in this run yet.
double progress_eta(int64_t done, int64_t start_done, int64_t total, double run_seconds);

// "1h02m", "3m05s", "12.3s"
std::string format_duration(double seconds);

} // namespace snnkit
