// Resource limits of the safetensors / model readers: headers that claim more memory than the file holds
// are refused with one snnkit::error line naming the file, before any tensor is allocated.
#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/model_io.h"
#include "snnkit/io/safetensors.h"
#include "snnkit/nn/zoo.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

using namespace snnkit;

namespace {

// A safetensors file: the header length as 8 little-endian bytes (the host order here), header, data.
std::string st_file(const std::string & header, const std::string & data) {
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the length is written in host order");
    const uint64_t n = header.size();
    return std::string(reinterpret_cast<const char *>(&n), 8) + header + data;
}

// The snnkit::error message of decoding `bytes` ("" if it decoded).
std::string decode_error(const std::string & bytes) {
    try {
        safetensors_decode(bytes, "lim.safetensors");
    } catch (const snnkit::error & e) {
        return e.what();
    }
    return "";
}

::testing::AssertionResult says(const std::string & msg, const std::string & needle) {
    if (msg.find(needle) != std::string::npos && msg.find('\n') == std::string::npos) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "error '" << msg << "' lacks '" << needle << "'";
}

} // namespace

// Regression (found while fuzzing the format): a dim >= 2^63 next to a 0 dim has 0 elements, passed the
// size checks and reached at::empty as a negative size (a c10::Error without the file name).
TEST(io_limits, dims_beyond_int64_are_refused) {
    const std::string h = R"({"a":{"dtype":"F32","shape":[0,9223372036854775808],"data_offsets":[0,0]}})";
    const std::string msg = decode_error(st_file(h, ""));
    EXPECT_TRUE(says(msg, "lim.safetensors: tensor 'a': shape overflows"));
    // The largest representable dim with a 0 beside it is a valid empty tensor.
    const std::string ok = R"({"a":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}})";
    named_tensors t = safetensors_decode(st_file(ok, ""), "ok");
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].second.sizes(), (at::IntArrayRef{0, INT64_MAX}));
}

// Many entries naming the same bytes would make a small file allocate entries x data bytes: refused.
TEST(io_limits, overlapping_tensors_are_refused_before_allocating) {
    EXPECT_TRUE(says(decode_error(st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                          std::string(8, '\0'))),
                     "tensors overlap"));
    // 4096 entries x 4 MiB each = 16 GiB if allocated; the file is 4 MiB of data plus the header.
    std::string h = "{";
    for (int i = 0; i < 4096; ++i) {
        h += (i ? "," : "") + std::string("\"t") + std::to_string(i) +
             R"(":{"dtype":"U8","shape":[4194304],"data_offsets":[0,4194304]})";
    }
    h += "}";
    EXPECT_TRUE(says(decode_error(st_file(h, std::string(4194304, '\1'))), "lim.safetensors: tensors overlap"));
}

// Empty tensors take no bytes and may sit anywhere, even inside another tensor's span.
TEST(io_limits, empty_tensors_do_not_count_as_overlap) {
    std::string data(8, '\0');
    const float v[2] = {1.5f, -2.0f};
    std::memcpy(data.data(), v, 8);
    named_tensors t = safetensors_decode(
        st_file(R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                data),
        "ok");
    ASSERT_EQ(t.size(), 2u);
    for (const auto & kv : t) {
        if (kv.first == "e") {
            EXPECT_EQ(kv.second.numel(), 0);
        } else {
            EXPECT_EQ(kv.second[0].item<float>(), 1.5f);
            EXPECT_EQ(kv.second[1].item<float>(), -2.0f);
        }
    }
}

// A model directory whose weights file claims a tensor far larger than the file.
TEST(io_limits, model_tensor_larger_than_the_file_is_refused) {
    const std::string d = (std::filesystem::temp_directory_path() / ("snnkit_io_limits_" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    save_model(d, zoo_build(zoo_options{}));
    write_file_atomic(d + "/model.safetensors",
                      st_file(R"({"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,16]}})", std::string(16, '\0')));
    std::string msg;
    try {
        load_model(d);
    } catch (const snnkit::error & e) {
        msg = e.what();
    }
    std::filesystem::remove_all(d);
    EXPECT_TRUE(says(msg, "model.safetensors"));
    EXPECT_TRUE(says(msg, "1000000000000 elements"));
}
