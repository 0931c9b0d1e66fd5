// src/cli/train_common.h: what `train-ann` and `train-snn` share: dataset, architecture and optimizer flags
// (the training itself is the library's: snnkit/train/train_job.h).
#pragma once

#include "commands.h"

#include "snnkit/dist/data_parallel.h"
#include "snnkit/train/train_job.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <memory>
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
    /// --nproc: data-parallel worker processes to start on this machine (1 = this process trains alone)
    int nproc = 1;
    /// --dist-timeout: seconds a rank waits for the store, the other ranks and every collective
    double dist_timeout = 60.0;
    /// --bucket-kib: gradient bytes per all-reduce bucket, KiB
    int64_t bucket_kib = 256;
    /// --comm-sched: defer (Gloo's I/O thread at nice 19, its workers asking for 100 us slices, 2 ranks exchanging
    /// gradients: dist_options::io_thread_nice, worker_slice_us, pair_exchange) | off (Gloo's threads and ring as is)
    std::string comm_sched = "defer";
    /// --allreduce: auto (as --comm-sched sets dist_options::pair_exchange) | ring (Gloo's all-reduce always)
    std::string allreduce = "auto";
    /// --no-cpu-bind: leave --nproc workers unbound (default: each bound to its own CPUs when they fit)
    bool no_cpu_bind = false;
    /// the CPUs this rank was bound to (SNNKIT_DIST_CPUS; empty: unbound)
    std::vector<int> cpus;
    /// --sync-bn: BatchNorm statistics of the global batch in data-parallel training
    bool sync_bn = false;
    /// the data-parallel job this process is a rank of (set by job_options; null = alone)
    std::shared_ptr<snnkit::data_parallel> dist;
    /// how this process was started: single | snnkit | torchrun | env (dist_options::launch)
    std::string launch = "single";
};

// Adds the shared flags to a training subcommand (defaults are taken from `a` as it is).
void add_train_flags(CLI::App * s, train_cli & a);

// Sets the thread count, refuses shared flags that would change nothing, and returns the library's options.
// With --nproc N > 1 it starts N workers running this command line instead (snnkit/dist/launch.h) and exits with
// their status; a worker (or a process under torchrun) joins its job here (the options' train.parallel), and
// ranks other than 0 run quiet.
snnkit::train_job_options job_options(train_cli & a, const char * command);

// The command's ending, once the library has trained: fails when the training stopped early (resume with
// --resume); else writes the result JSON with the training and test splits as its provenance's data, and "dist"
// (dist_json). In a data-parallel job only rank 0 writes; finish_training returns false on the other ranks.
bool finish_training(const train_cli & a, const snnkit::train_job_result & r, const char * command);

// The result JSON's "dist": world size, launch mode, the timeout and the exposed all-reduce time.
nlohmann::json dist_json(const train_cli & a);

} // namespace snnkit_cli
