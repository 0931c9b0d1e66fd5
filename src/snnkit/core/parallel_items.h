// snnkit/core/parallel_items.h: independent items of work run side by side, one single-threaded worker each.
//
// Intra-op parallelism (at::parallel_for, parallel_chunks) splits every operation over the threads, so the data
// one thread writes, the next operation's other thread reads. Where the CPUs share no cache that traffic crosses
// between them: on this project's virtual machine the two CPUs are at times placed apart (a cache line's round
// trip between them 380-440 ns instead of 80-140), and the converted ResNet-20 then loses a third of its speed.
// Items that share nothing (an inference's image groups) can instead each run on one thread from start to end,
// their data staying in that thread's cache whatever the placement.
#pragma once

#include <cstdint>
#include <functional>

namespace snnkit {

// Runs body(i) for every i in [0, n) on `workers` threads (the caller and workers - 1 threads started here; at
// most n), which take items from a shared counter. Each runs with one intra-op thread (OpenMP, so at::parallel_for
// and oneDNN run serially inside the body) and the caller's ATen thread-local state (grad mode, inference mode).
// The caller's intra-op threads are restored afterwards. The first exception a body throws is rethrown here once
// every worker has stopped (the others take no new item after it). workers <= 1: a plain loop on the caller.
void parallel_items(int64_t n, int workers, const std::function<void(int64_t)> & body);

} // namespace snnkit
