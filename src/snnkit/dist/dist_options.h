// snnkit/dist/dist_options.h: where a data-parallel process finds its job: rank, world size and the TCPStore
// of the rendezvous, as torchrun and PyTorch's env:// rendezvous set them (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT; TORCHELASTIC_USE_AGENT_STORE), and the timeout of every collective.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace snnkit {

struct dist_options {
    /// this process's rank in [0, world_size)
    int rank = 0;
    /// number of processes of the job
    int world_size = 1;
    /// rank among the processes on this machine (LOCAL_RANK; recorded only)
    int local_rank = 0;
    /// host of the TCPStore: rank 0's machine, or the launcher / torchrun agent that hosts it
    std::string master_addr = "127.0.0.1";
    /// port of the TCPStore
    int master_port = 29500;
    /// seconds to wait for the store, for the rendezvous and for every collective (Gloo's default is 30 min)
    double timeout_s = 60.0;
    /// how the process was started: "single" (one process), "snnkit" (`--nproc N`), "torchrun", "env" (another
    /// launcher that sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)
    std::string launch = "single";
    /// the store is hosted by a launcher (snnkit's or torchrun's agent): every rank connects as a client, with
    /// `store_prefix` in front of its keys; otherwise rank 0 hosts it
    bool agent_store = false;
    /// key prefix in an agent's store (torchrun 1.13: "/worker/attempt_<TORCHELASTIC_RESTART_COUNT>")
    std::string store_prefix;
    /// local address this rank's Gloo transport binds ("" = the address through which master_addr is reached;
    /// GLOO_SOCKET_IFNAME names an interface instead, as in PyTorch)
    std::string bind_addr;
    /// nice value (0-19) given to this rank's Gloo I/O thread (the TCP transport's event loop); 0 leaves it as
    /// it is. On CPUs that compute all the time, that thread, woken by arriving data, preempts the Gloo worker
    /// that holds the connection's lock and then spins in epoll_wait until the next scheduler tick (docs/dist.md);
    /// at 19 it no longer preempts, and the communication runs mostly when the compute thread waits for it.
    int io_thread_nice = 0;
    /// scheduler slice, microseconds, requested for this rank's Gloo worker threads (Linux >= 6.12: EEVDF's
    /// sched_runtime of a SCHED_OTHER thread; a short one lets a woken worker run before the compute thread and
    /// finish what it holds); 0 leaves them as they are; older kernels ignore it
    int worker_slice_us = 0;
    /// with exactly 2 ranks, all-reduce tensors of pair_exchange_min_bytes or more by a direct exchange (Gloo send +
    /// recv) and an add on each rank instead of Gloo's ring: the same bytes, one round instead of two, and no
    /// reduction or hand-off in Gloo's worker threads; both ranks get the same sum, bit for bit (a + b = b + a).
    /// Measured faster than the ring only with the I/O thread deferred (io_thread_nice 19: docs/dist.md)
    bool pair_exchange = false;
};

/// the smallest tensor, in bytes, that dist_options::pair_exchange exchanges (smaller ones, such as a step's
/// metrics, measured slower by exchange than by Gloo's ring in training: docs/dist.md)
inline constexpr size_t pair_exchange_min_bytes = 4096;

// The communication settings that `snnkit --comm-sched MODE --allreduce ALGO` name: MODE "defer" (io_thread_nice
// 19, worker_slice_us 100, pair_exchange on: docs/dist.md, "Gloo's threads on busy CPUs") or "off" (Gloo's threads
// as they start, 0 and 0, and Gloo's ring); ALGO "auto" (as MODE says) or "ring" (pair_exchange off). Another
// value fails naming it.
void set_comm_sched(dist_options & o, const std::string & mode, const std::string & allreduce = "auto");

// True when the environment names a job (WORLD_SIZE is set): the process was started by torchrun, snnkit's
// launcher or another launcher.
bool dist_env_present();

// The job the environment describes (see the file comment); a missing or malformed variable fails naming it.
// Without WORLD_SIZE: one process (world_size 1, launch "single").
dist_options dist_options_from_env(double timeout_s);

// The environment variable snnkit's launcher sets in its workers ("snnkit" launch mode).
inline const char * dist_launcher_env() { return "SNNKIT_DIST_LAUNCHER"; }

// The variable that carries a worker's CPUs from snnkit's launcher ("0,1"; launch_options::cpus_per_worker).
inline const char * dist_cpus_env() { return "SNNKIT_DIST_CPUS"; }

// Binds the calling thread, and so the threads it starts later (OpenMP, Gloo), to the CPUs SNNKIT_DIST_CPUS
// lists; call it first, before threads start. Returns those CPUs: empty when the variable is unset, or when the
// system refuses the binding (a one-line warning; the process runs unbound). A malformed list fails naming the
// variable.
std::vector<int> bind_cpus_from_env();

} // namespace snnkit
