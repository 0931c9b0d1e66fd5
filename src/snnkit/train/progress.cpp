// snnkit/train/progress.cpp
#include "snnkit/train/progress.h"

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

progress_bar::progress_bar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total > 0 ? total : 1), enabled_(enabled), tty_(::isatty(2) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double progress_bar::elapsed_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
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
    const double eta = frac > 0 ? el * (1 - frac) / frac : 0;
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
