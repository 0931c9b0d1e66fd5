// Inputs found by the fuzz targets (fuzz/fuzz_onnx.cpp, fuzz/fuzz_nir.cpp), kept as fixtures: each must give
// one snnkit::error line naming the file and the problem, not a crash, a foreign exception or a huge allocation.
#include "snnkit/core/error.h"
#include "snnkit/interop/nir_io.h"
#include "snnkit/interop/onnx_import.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace {

const std::string fixtures = std::string(SNNKIT_SOURCE_DIR) + "/tests/interop/fixtures/";

template <class F>
std::string snnkit_error_of(F && f) {
    try {
        f();
    } catch (const snnkit::error & e) {
        return e.what();
    }
    return "(no snnkit::error)";
}

// Imports fixture `name` with `import` (import_onnx or import_nir); the one snnkit::error it must give names
// the file and contains each of `needles`. Returns the message.
template <class Import>
std::string expect_fixture_error(const std::string & name, Import && import, std::initializer_list<const char *> needles) {
    const std::string path = fixtures + name;
    const std::string msg = snnkit_error_of([&] { import(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const char * n : needles) {
        EXPECT_NE(msg.find(n), std::string::npos) << msg;
    }
    return msg;
}

void onnx(const std::string & path) { snnkit::import_onnx(path); }
void nir(const std::string & path) { snnkit::import_nir(path); }

} // namespace

// The tiny CNN of fuzz/corpus/onnx/tiny_op13.onnx with mutated bytes: a shape op (Gather / Unsqueeze) left
// with fewer inputs than it needs. It used to escape as std::out_of_range from std::vector::at (fuzz_onnx
// aborted on it).
TEST(fuzz_regress, onnx_shape_op_with_a_missing_input) {
    const std::string msg = expect_fixture_error("fuzz_shape_op_missing_input.onnx", onnx, {"input(s), has"});
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

// fuzz/corpus/nir/tiny_snn.nir with a dataset header claiming 1.46e9 floats in a 90 KB file: the reader used
// to allocate 5.8 GB before HDF5 failed to read it; now the claim is checked against the dataset's storage.
TEST(fuzz_regress, nir_dataset_larger_than_the_file) {
    expect_fixture_error("fuzz_huge_dataset.nir", nir, {"dataset claims", "but the file stores"});
}

// fuzz/corpus/nir input mutated so that a variable-length string's global-heap reference is corrupt: Debian's
// libhdf5 1.10.8 dies with SIGSEGV inside H5HG_read on it (snnkit import-nir used to exit 139). HDF5 now
// reads the file in a child process (interop/h5_read.h), so the crash is one error line and the caller lives.
TEST(fuzz_regress, nir_hdf5_crash_on_a_corrupt_global_heap_is_contained) {
    for (int i = 0; i < 2; ++i) { // the calling process is intact: the same file again gives the same error
        expect_fixture_error("fuzz_hdf5_global_heap_crash.nir", nir, {"the HDF5 library"});
    }
}

// A Clip (opset >= 11) whose min input is a constant with two values: item() on it threw c10::Error out of
// import_onnx_bytes (fuzz_onnx aborted). Now the node is named.
TEST(fuzz_regress, onnx_clip_bound_with_two_values) {
    expect_fixture_error("fuzz_clip_min_two_values.onnx", onnx, {"must be a scalar"});
}

// A corrupt global-heap reference on which libhdf5 1.10.8 spins in H5HG_read / H5C_protect for minutes
// (fuzz_nir timeout). The reader process is stopped at its time limit (5 s for a small file).
TEST(fuzz_regress, nir_hdf5_spinning_on_a_corrupt_global_heap_is_stopped) {
    expect_fixture_error("fuzz_hdf5_global_heap_spin.nir", nir, {"the HDF5 library"});
}
