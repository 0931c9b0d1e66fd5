// snnkit/core/runtime.h: process-wide settings for fast CPU runs.
#pragma once

namespace snnkit {

// Sets the intra-op thread count (0 = all cores; LibTorch's default is 1), and OpenBLAS's where LibTorch's BLAS is
// OpenBLAS (its own pool, which at::set_num_threads leaves at one thread per core), and, when tune_malloc is set,
// tells glibc's malloc to keep freed memory for reuse (no trimming, no per-allocation mmap). Training
// allocates and frees the same large activation tensors every step; with glibc's defaults each of them
// is returned to the OS and faulted in again (measured here: 1.24 M page faults per 100 training steps
// of the zoo cnn, 0.13 M with tuning, and 11.5 s -> 8.0 s). The process then keeps its peak heap.
void runtime_init(int threads, bool tune_malloc = true);

} // namespace snnkit
