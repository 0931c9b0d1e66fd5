// snnkit/core/progress.cpp
#include "snnkit/core/progress.h"

#include <cstdio>

#include <unistd.h>

namespace snnkit {

std::string format_duration(double s) {
    char buf[32];
    if (s < 60) {
        std::snprintf(buf, sizeof buf, "%.1fs", s);
    } else if (s < 3600) {
        std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) / 60) % 60);
    }
    return buf;
}

double progress_eta(int64_t done, int64_t start_done, int64_t total, double run_seconds) {
    const int64_t run_done = done - start_done;
    if (run_done <= 0 || done >= total) {
        return 0;
    }
    return run_seconds * static_cast<double>(total - done) / static_cast<double>(run_done);
}

progress_bar::progress_bar(std::string label, int64_t total, bool enabled, int64_t start_done, double prior_seconds)
    : label_(std::move(label)), total_(total > 0 ? total : 1), start_done_(start_done), prior_seconds_(prior_seconds),
      enabled_(enabled), tty_(::isatty(2) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {
    last_quarter_ = static_cast<int>(4.0 * static_cast<double>(start_done) / static_cast<double>(total_));
}

double progress_bar::elapsed_seconds() const {
    return prior_seconds_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void progress_bar::update(int64_t done, const std::string & extra) {
    if (!enabled_) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    const double frac = static_cast<double>(done) / static_cast<double>(total_);
    const int quarter = static_cast<int>(frac * 4);
    if (tty_) {
        if (std::chrono::duration<double>(now - last_draw_).count() < 0.2 && done < total_) {
            return;
        }
    } else if (quarter <= last_quarter_ || done >= total_) {
        return;
    }
    last_draw_ = now;
    last_quarter_ = quarter;
    const double el = elapsed_seconds();
    const double eta = progress_eta(done, start_done_, total_, el - prior_seconds_);
    const int width = 24;
    const int fill = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "%s%s [%s] %3d%% %s ETA %s %s%s", tty_ ? "\r\033[K" : "", label_.c_str(), bar.c_str(),
                 static_cast<int>(frac * 100), format_duration(el).c_str(), format_duration(eta).c_str(),
                 extra.c_str(), tty_ ? "" : "\n");
    std::fflush(stderr);
}

void progress_bar::finish(const std::string & extra) {
    if (!enabled_) {
        return;
    }
    std::fprintf(stderr, "%s%s done in %s %s\n", tty_ ? "\r\033[K" : "", label_.c_str(),
                 format_duration(elapsed_seconds()).c_str(), extra.c_str());
    std::fflush(stderr);
}

} // namespace snnkit
