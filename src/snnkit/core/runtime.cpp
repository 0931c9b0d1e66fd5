// snnkit/core/runtime.cpp
#include "snnkit/core/runtime.h"

#include "snnkit/core/block_cache.h"

#include <ATen/Parallel.h>

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <thread>

namespace snnkit {

void runtime_init(int threads, runtime_memory memory) {
    const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(n);
    // LibTorch's BLAS (Debian's: OpenBLAS, behind libblas.so.3) keeps its own thread pool, one thread per core
    // unless told otherwise, and at::set_num_threads does not reach it: a `--threads 1` process ran its matrix
    // products (linear layers, some convolutions) on every core, and each OpenBLAS thread touches its own buffer
    // (a `convert` at 4,096 calibration images peaked 12 % higher for it)
    using set_threads_fn = void (*)(int);
    if (const auto set_blas = reinterpret_cast<set_threads_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
        set_blas(n);
    }
#if defined(__GLIBC__)
    if (memory != runtime_memory::system) {
        mallopt(M_MMAP_MAX, 0);               // serve large blocks from the heap, where freed memory is reused
        mallopt(M_TRIM_THRESHOLD, 1 << 30);   // never hand the heap top back to the OS for < 1 GiB
        mallopt(M_TOP_PAD, 64 << 20);         // grow the heap in 64 MiB steps
    }
#endif
    if (memory == runtime_memory::bounded) {
        block_cache_install();
    }
}

} // namespace snnkit
