// snnkit/core/runtime.cpp
#include "snnkit/core/runtime.h"

#include <ATen/Parallel.h>

#include <malloc.h>

#include <algorithm>
#include <thread>

namespace snnkit {

void runtime_init(int threads, bool tune_malloc) {
    const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(n);
#if defined(__GLIBC__)
    if (tune_malloc) {
        mallopt(M_MMAP_MAX, 0);               // serve large blocks from the heap, where freed memory is reused
        mallopt(M_TRIM_THRESHOLD, 1 << 30);   // never hand the heap top back to the OS for < 1 GiB
        mallopt(M_TOP_PAD, 64 << 20);         // grow the heap in 64 MiB steps
    }
#endif
}

} // namespace snnkit
