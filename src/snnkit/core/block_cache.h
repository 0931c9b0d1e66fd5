// snnkit/core/block_cache.h: LibTorch's CPU allocator for large tensors, mapped one by one, with a cache of freed
// blocks bounded by the process's own largest live total.
//
// glibc's malloc either returns every large block to the OS on free (its defaults: each new activation is faulted
// in again, slow) or, tuned for reuse (runtime_memory::reuse), keeps its heap at the peak extent, which depends on
// how freed blocks happened to fragment it: one `convert` command read 634-794 MB from process to process. Here
// each tensor of at least min_bytes is mapped on its own and, when freed, kept for a later tensor of its size
// class; a kept block is unmapped (oldest first) as soon as keeping it would take the mapped total beyond the
// largest total of live blocks so far plus slack_bytes. So the process holds at most its own high-water mark of
// live tensors plus the slack, the same in every run, and a loop that allocates the same shapes again (a
// calibration chunk, a batch) reuses its blocks without page faults.
#pragma once

#include <cstddef>
#include <cstdint>

namespace snnkit {

/// Options of block_cache_install.
struct block_cache_options {
    /// tensors of at least this many bytes are mapped and cached; smaller ones go to LibTorch's own allocation
    size_t min_bytes = size_t{1} << 20;
    /// the mapped total (live and cached) may exceed the largest live total so far by at most this many bytes
    size_t slack_bytes = size_t{64} << 20;
};

/// What the cache holds and did since the process started (all zero before block_cache_install).
struct block_cache_stats {
    /// bytes mapped now: live tensors and cached blocks
    size_t mapped_bytes = 0;
    /// bytes of freed blocks kept for reuse
    size_t cached_bytes = 0;
    /// the largest total of live mapped blocks so far (counting a block from the moment it is requested)
    size_t peak_live_bytes = 0;
    /// the most bytes mapped at any time
    size_t peak_mapped_bytes = 0;
    /// large allocations served from the cache
    uint64_t hits = 0;
    /// large allocations that mapped a new block
    uint64_t misses = 0;
    /// cached blocks unmapped to stay within the bound (or by block_cache_release)
    uint64_t evictions = 0;
};

// Makes the block cache LibTorch's CPU allocator for the rest of the process (tensors allocated before keep their
// own deleter). A later call changes the options.
void block_cache_install(const block_cache_options & opt = {});

// True once block_cache_install has run.
bool block_cache_installed();

// The counters.
block_cache_stats block_cache_stats_now();

// The size a request of n bytes is mapped with: n rounded up to a step of 1/8 of its power of two (at least 64 KiB),
// so that a cached block serves any request of its class (at most 12.5 % smaller).
size_t block_cache_class_bytes(size_t n);

// Unmaps every cached block (live tensors are untouched).
void block_cache_release();

} // namespace snnkit
