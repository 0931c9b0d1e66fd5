// fuzz/fuzz_onnx.cpp: ONNX import (protobuf parse, op mapping, shape evaluation) from the serialised bytes.
#include "fuzz_util.h"
#include "snnkit/interop/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const std::string bytes(reinterpret_cast<const char *>(data), size);
    snnkit_fuzz::expect_clean([&] { snnkit::import_onnx_bytes(bytes, "fuzz.onnx"); });
    return 0;
}
