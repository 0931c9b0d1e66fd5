// snnkit/core/parallel_chunks.h: a range split into chunks that the intra-op workers take from a shared counter.
//
// at::parallel_for splits a range into one equal share per thread; where the work per item varies (a convolution of
// spikes: the active inputs per output row follow the images' firing) or a thread is descheduled on a busy machine,
// the others then wait at the end. Here each worker takes the next chunk until none is left.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace snnkit {

/// chunks per thread that parallel_chunks_of aims at: enough for the workers to even out, few enough that each
/// chunk stays long
constexpr int64_t parallel_chunks_per_thread = 8;

// The chunk size for n items: n / (threads * parallel_chunks_per_thread), at least 1.
inline int64_t parallel_chunks_of(int64_t n) {
    return std::max<int64_t>(1, n / (std::max<int64_t>(1, at::get_num_threads()) * parallel_chunks_per_thread));
}

// Runs body(scratch, i0, i1) over [0, n) in chunks of `chunk` items, on at::get_num_threads() workers that take
// chunks from a shared counter; each worker makes its scratch once (make_scratch(); it may return a type that can
// be neither copied nor moved) and drops it when no chunk is left. Used by the neuron kernel's blocks and the
// gathered spike convolutions' output rows.
template <typename MakeScratch, typename Body>
void parallel_chunks(int64_t n, int64_t chunk, const MakeScratch & make_scratch, const Body & body) {
    if (n <= 0) {
        return;
    }
    const int64_t chunks = (n + chunk - 1) / chunk;
    const int64_t workers = std::min<int64_t>(at::get_num_threads(), chunks);
    std::atomic<int64_t> next{0};
    at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
        auto scratch = make_scratch();
        for (int64_t c = next.fetch_add(1); c < chunks; c = next.fetch_add(1)) {
            body(scratch, c * chunk, std::min(n, c * chunk + chunk));
        }
    });
}

} // namespace snnkit
