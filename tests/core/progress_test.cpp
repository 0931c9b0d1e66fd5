// Progress line: the ETA counts only the items of this run (a resumed epoch must not extrapolate from
// items finished before the restart), and durations print in the documented forms.
#include "snnkit/core/progress.h"

#include <gtest/gtest.h>

using namespace snnkit;

TEST(progress, eta_extrapolates_this_runs_rate) {
    // 25 of 100 items in 50 s: 2 s per item, 75 left.
    EXPECT_DOUBLE_EQ(progress_eta(25, 0, 100, 50.0), 150.0);
    // Resumed at 50: 2 items in 3 s since the restart, 48 left -> 72 s (not 3 s * 48 / 52).
    EXPECT_DOUBLE_EQ(progress_eta(52, 50, 100, 3.0), 72.0);
    // Nothing finished in this run yet, or all done: no estimate.
    EXPECT_EQ(progress_eta(50, 50, 100, 3.0), 0.0);
    EXPECT_EQ(progress_eta(100, 0, 100, 9.0), 0.0);
}

TEST(progress, durations) {
    EXPECT_EQ(format_duration(12.34), "12.3s");
    EXPECT_EQ(format_duration(185), "3m05s");
    EXPECT_EQ(format_duration(3720), "1h02m");
}
