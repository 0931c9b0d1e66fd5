// snnkit/dist/launch.h: the local launcher of `--nproc N`: hosts the job's TCPStore and starts N worker
// processes (posix_spawn: a fresh exec, never a bare fork of a process whose OpenMP and Gloo threads run), each
// with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and SNNKIT_DIST_LAUNCHER set, as
// torchrun does. It waits for them all; when one fails (non-zero exit, killed) the others get SIGTERM, and
// SIGKILL after the timeout; SIGINT / SIGTERM to the launcher go to every worker.
#pragma once

#include <string>
#include <vector>

namespace snnkit {

struct launch_options {
    /// number of worker processes
    int nproc = 2;
    /// each worker's command line; argv[0] is the program's path (/proc/self/exe runs the file it names)
    std::vector<std::string> argv;
    /// address the workers reach the store at (this machine)
    std::string master_addr = "127.0.0.1";
    /// store port (0 = a free one)
    int master_port = 0;
    /// seconds the others get to stop after one failed, before SIGKILL (the job's --dist-timeout)
    double timeout_s = 60.0;
    /// CPUs per worker: worker k is bound to the k-th group of this many CPUs among those the launcher may use
    /// (SNNKIT_DIST_CPUS, applied by bind_cpus_from_env), when nproc groups fit; 0 = no binding
    int cpus_per_worker = 0;
};

struct launch_result {
    /// the exit status for the launcher: 0, the failed worker's status, or 128 + its signal
    int status = 0;
    /// the first failure as one line ("" when all succeeded), e.g. "rank 1 (pid 4242) was killed by signal 9"
    std::string failure;
};

launch_result launch_workers(const launch_options & o);

// The CPUs of worker `rank`: the rank-th group of `per_worker` CPUs of `allowed` (in its order); empty when
// nproc groups do not fit or per_worker is 0 (oversubscribed: binding would only add contention).
std::vector<int> worker_cpus(const std::vector<int> & allowed, int nproc, int per_worker, int rank);

// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<int> allowed_cpus();

} // namespace snnkit
