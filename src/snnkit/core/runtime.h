// snnkit/core/runtime.h: process-wide settings for fast CPU runs.
#pragma once

namespace snnkit {

/// How a process's tensors get their memory (runtime_init).
enum class runtime_memory {
    /// glibc's malloc as the environment sets it: every large block is returned to the OS when freed
    system,
    /// glibc's malloc told to keep freed memory for reuse (no trimming, no per-allocation mmap). Training allocates
    /// and frees the same large activation tensors every step; with glibc's defaults each of them is returned to
    /// the OS and faulted in again (measured here: 1.24 M page faults per 100 training steps of the zoo cnn, 0.13 M
    /// with tuning, and 11.5 s -> 8.0 s). The heap then stays at its peak extent, which depends on how freed
    /// blocks fragmented it (one `convert` command: 634-794 MB from process to process).
    reuse,
    /// as reuse for small blocks, and tensors of 1 MiB or more through block_cache (snnkit/core/block_cache.h):
    /// mapped one by one, freed ones kept only while the mapped total stays within the largest live total so far
    /// plus 64 MiB. As fast as reuse for loops over equal shapes, with a peak that is the process's own and the
    /// same in every run; the commands that work under a memory budget (convert, eval, stats) use it.
    bounded,
};

// Sets the intra-op thread count (0 = all cores; LibTorch's default is 1), and OpenBLAS's where LibTorch's BLAS is
// OpenBLAS (its own pool, which at::set_num_threads leaves at one thread per core), and the memory mode. Call it
// once, before the first tensor: bounded cannot be taken back (block_cache stays LibTorch's CPU allocator).
void runtime_init(int threads, runtime_memory memory = runtime_memory::reuse);

} // namespace snnkit
