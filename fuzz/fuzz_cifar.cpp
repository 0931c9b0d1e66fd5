// fuzz/fuzz_cifar.cpp: CIFAR-10 and CIFAR-100 binary batch files (raw or gzipped): the input is the test
// split file of both formats.
#include "fuzz_util.h"
#include "snnkit/data/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    using namespace snnkit_fuzz;
    static const std::string dir = make_dir("cifar");
    put_file(dir + "/test_batch.bin", data, size);
    put_file(dir + "/test.bin", data, size);
    expect_clean([&] { snnkit::load_cifar10_bin(dir, snnkit::split::test); });
    expect_clean([&] { snnkit::load_cifar100_bin(dir, snnkit::split::test); });
    return 0;
}
