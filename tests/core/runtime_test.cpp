// runtime_init: the thread count reaches LibTorch's intra-op pool and, where LibTorch's BLAS is OpenBLAS (Debian's
// libblas.so.3 alternative), OpenBLAS's own pool, which at::set_num_threads leaves at one thread per core.
#include "snnkit/core/runtime.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <dlfcn.h>

TEST(runtime, threads_reach_the_intra_op_pool_and_openblas) {
    const int prev = at::get_num_threads();
    using get_fn = int (*)();
    const auto blas_threads = reinterpret_cast<get_fn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    for (const int n : {1, 2}) {
        snnkit::runtime_init(n, snnkit::runtime_memory::system);
        EXPECT_EQ(at::get_num_threads(), n);
        if (blas_threads != nullptr) {
            EXPECT_EQ(blas_threads(), n) << "OpenBLAS's pool does not follow the thread count";
        }
    }
    // a matrix product still gives the right result on the pool set to one thread
    const at::Tensor a = at::randn({64, 96}), b = at::randn({96, 32});
    EXPECT_TRUE(at::allclose(at::mm(a, b), (a.to(at::kDouble).mm(b.to(at::kDouble))).to(at::kFloat), 1e-4, 1e-4));
    snnkit::runtime_init(prev, snnkit::runtime_memory::system);
    if (blas_threads == nullptr) {
        GTEST_SKIP() << "LibTorch's BLAS here is not OpenBLAS: nothing further to set";
    }
}
