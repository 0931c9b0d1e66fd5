// fuzz/fuzz_safetensors.cpp: the safetensors decoder (8-byte header length, JSON header, tensor bytes).
#include "fuzz_util.h"
#include "snnkit/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const std::string bytes(reinterpret_cast<const char *>(data), size);
    snnkit_fuzz::expect_clean([&] {
        std::map<std::string, std::string> meta;
        snnkit::safetensors_decode(bytes, "fuzz.safetensors", &meta);
    });
    return 0;
}
