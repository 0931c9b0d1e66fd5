// src/cli/train_common.h: what `train-ann` and `train-snn` share: dataset, architecture and optimizer flags
// (the training itself is the library's: snnkit/train/train_job.h).
#pragma once

#include "commands.h"

#include "snnkit/train/train_job.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string>

namespace snnkit_cli {

// The shared flags: the library's job options (snnkit/train/train_job.h) plus what only the command has.
struct train_cli : snnkit::train_job_options {
    /// --json: where the final metrics go ("-" = stdout)
    std::string json_path;
    /// intra-op threads (0 = all cores)
    int threads = 0;
    /// --no-augment: same as --augment none
    bool no_augment = false;
    /// no progress output
    bool quiet = false;
    /// the subcommand these flags were parsed by (set by add_train_flags; for refuse_unused_flags)
    const CLI::App * cli = nullptr;
};

// Adds the shared flags to a training subcommand (defaults are taken from `a` as it is).
void add_train_flags(CLI::App * s, train_cli & a);

// Sets the thread count, refuses shared flags that would change nothing, and returns the library's options.
snnkit::train_job_options job_options(const train_cli & a);

// The command's ending, once the library has trained: fails when the training stopped early (resume with
// --resume); else writes the result JSON with the training and test splits as its provenance's data.
void finish_training(const train_cli & a, const snnkit::train_job_result & r, const char * command);

} // namespace snnkit_cli
