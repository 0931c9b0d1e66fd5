// snnkit/core/parallel_items.cpp
//
// The workers are the OpenMP team that ATen's own parallel loops use, not threads of our own: after a parallel
// region libgomp's workers spin for a while (milliseconds here) before they sleep, so a second set of threads
// would share the CPUs with spinning ones after every multi-threaded operation the caller runs (measured: a
// third of the time of ResNet-20 at T = 4 in a prototype with its own threads). Inside the region each thread
// asks for a team of one, so ATen's loops and oneDNN run serially and oneDNN prepares its kernels for one thread.
#include "snnkit/core/parallel_items.h"

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>

namespace snnkit {

void parallel_items(int64_t n, int workers, const std::function<void(int64_t)> & body) {
    if (n <= 0) {
        return;
    }
    const int64_t w = std::min<int64_t>(std::max(workers, 1), n);
    if (w <= 1 || omp_in_parallel()) {
        for (int64_t i = 0; i < n; ++i) {
            body(i);
        }
        return;
    }
    std::atomic<int64_t> next{0};
    std::atomic<bool> stop{false};
    std::exception_ptr first;
    std::mutex mu;
    const at::ThreadLocalState state; // the caller's grad mode and the like, for the team's other threads
#pragma omp parallel num_threads(static_cast<int>(w))
    {
        at::ThreadLocalStateGuard guard(state);
        (void)at::get_num_threads(); // ATen's per-thread set-up, which sets the team size, before ours below
        omp_set_num_threads(1);      // this thread's nested regions (ATen, oneDNN): one thread
        for (int64_t i = next.fetch_add(1); i < n && !stop.load(); i = next.fetch_add(1)) {
            try {
                body(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mu);
                if (!first) {
                    first = std::current_exception();
                }
                stop.store(true);
            }
        }
    }
    if (first) {
        std::rethrow_exception(first);
    }
}

} // namespace snnkit
