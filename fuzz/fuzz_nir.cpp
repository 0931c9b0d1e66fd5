// fuzz/fuzz_nir.cpp: NIR import (an HDF5 file read with the HDF5 C library, then the graph mapping).
#include "fuzz_util.h"
#include "snnkit/interop/nir_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    using namespace snnkit_fuzz;
    static const std::string path = make_dir("nir") + "/graph.nir";
    put_file(path, data, size);
    expect_clean([&] {
        snnkit::model_meta meta;
        snnkit::import_nir(path, &meta);
    });
    return 0;
}
