// snnkit/stats/report.h: a results page from the --json files of snnkit's commands: PNG charts (drawn by
// gnuplot) and one Markdown page (index.md) that links them, with the numbers in tables.
//
// Each file is recognised by its "command" field:
//   train-ann, train-snn  training curves (loss, train/test accuracy per epoch); Dspike's b and the three
//                         cosine similarities per epoch when the history has "dspike" entries
//   convert               conversion settings, per-layer threshold and MSE before/after calibration
//   eval                  accuracy after every step t for all runs on one chart with the ANN's accuracy as
//                         a line; per-layer firing rate and conversion error; operations when --stats
//   stats                 per-layer SOPs / MACs and the energy estimate
#pragma once

#include <string>
#include <vector>

namespace snnkit {

struct report_options {
    /// directory for index.md and the charts (created if missing); every file is written atomically,
    /// index.md last
    std::string out_dir;
    /// the plotting program (gnuplot 5 with the pngcairo terminal; Debian: gnuplot-nox)
    std::string gnuplot = "gnuplot";
    /// title of the page
    std::string title = "snnkit results";
};

struct report_result {
    /// the charts written (paths of PNG files), in page order
    std::vector<std::string> charts;
    /// path of the Markdown page
    std::string index;
};

// Reads the JSON files and writes the report. Throws snnkit::error naming the file for unreadable or
// unrecognised input, and a clear error when gnuplot is missing.
report_result write_report(const std::vector<std::string> & json_paths, const report_options & opt);

} // namespace snnkit
