// fuzz/fuzz_model.cpp: a model directory (model.json + model.safetensors) as load_model reads it.
// Input layout: 4-byte little-endian length L, then L bytes of model.json, the rest is model.safetensors.
#include "fuzz_util.h"
#include "snnkit/io/model_io.h"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    using namespace snnkit_fuzz;
    static const std::string dir = make_dir("model");
    if (size < 4) return 0;
    size_t json_len = data[0] | (data[1] << 8) | (size_t(data[2]) << 16) | (size_t(data[3]) << 24);
    json_len = std::min(json_len, size - 4);
    put_file(dir + "/model.json", data + 4, json_len);
    put_file(dir + "/model.safetensors", data + 4 + json_len, size - 4 - json_len);
    expect_clean([&] {
        snnkit::model_meta meta;
        snnkit::load_model(dir, &meta);
    });
    return 0;
}
