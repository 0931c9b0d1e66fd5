// The safetensors codec: byte layout against a hand-built file, round trips, and every corrupt case.
#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace snnkit;

namespace {

std::string le64(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

std::string make_file(const std::string & header, const std::string & data) {
    return le64(header.size()) + header + data;
}

void expect_error(const std::string & bytes, const std::string & needle) {
    try {
        safetensors_decode(bytes, "f.safetensors");
        FAIL() << "no error for " << needle;
    } catch (const snnkit::error & e) {
        const std::string w = e.what();
        EXPECT_NE(w.find("f.safetensors"), std::string::npos) << w;
        EXPECT_NE(w.find(needle), std::string::npos) << w;
    }
}

} // namespace

TEST(safetensors, reads_a_hand_built_file) {
    // Two F32 values 1.5, -2 as tensor "a" of shape [2], then one U8 value 7 as "b" of shape [].
    float f[2] = {1.5f, -2.0f};
    std::string data(reinterpret_cast<const char *>(f), 8);
    data.push_back(7);
    const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[],"data_offsets":[8,9]}})";
    const named_tensors t = safetensors_decode(make_file(h, data), "x");
    ASSERT_EQ(t.size(), 2u);
    EXPECT_EQ(t[0].first, "a");
    EXPECT_TRUE(at::equal(t[0].second, at::tensor({1.5f, -2.0f})));
    EXPECT_EQ(t[1].second.dim(), 0);
    EXPECT_EQ(t[1].second.item<uint8_t>(), 7);
}

TEST(safetensors, encoding_is_the_documented_layout_and_round_trips) {
    named_tensors in = {{"w", at::arange(6, at::kFloat).reshape({2, 3})},
                        {"d", at::tensor({0.25}, at::kDouble)},
                        {"i", at::tensor({-3, 4}, at::kLong)},
                        {"m", at::tensor({1, 0}, at::kByte).to(at::kBool)},
                        {"e", at::zeros({0, 4})}};
    const std::string bytes = safetensors_encode(in, {{"k", "v"}});
    uint64_t hl = 0;
    std::memcpy(&hl, bytes.data(), 8);
    EXPECT_EQ((8 + hl) % 8, 0u); // data section aligned
    const std::string header = bytes.substr(8, hl);
    EXPECT_NE(header.find(R"("w":{"data_offsets":[0,24],"dtype":"F32","shape":[2,3]})"), std::string::npos) << header;
    std::map<std::string, std::string> meta;
    const named_tensors out = safetensors_decode(bytes, "x", &meta);
    EXPECT_EQ(meta["k"], "v");
    std::map<std::string, at::Tensor> by(out.begin(), out.end());
    for (const auto & kv : in) {
        ASSERT_TRUE(by.count(kv.first)) << kv.first;
        EXPECT_EQ(by[kv.first].scalar_type(), kv.second.scalar_type());
        EXPECT_TRUE(at::equal(by[kv.first], kv.second)) << kv.first;
    }
}

TEST(safetensors, corrupt_inputs_give_one_clear_error) {
    const std::string good_h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    const std::string data(8, '\0');
    expect_error("abc", "truncated");
    expect_error(le64(1000) + "{}", "exceeds the file size");
    expect_error(make_file("{not json", ""), "not valid JSON");
    expect_error(make_file("[1,2]", ""), "not a JSON object");
    expect_error(make_file(good_h, data.substr(0, 5)), "outside");                                  // truncated data
    expect_error(make_file(R"({"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})", data), "unsupported dtype");
    expect_error(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data), "elements");
    expect_error(make_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", data), "non-negative");
    expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2]}})", data), "malformed");
    expect_error(make_file(good_h, data + "xx"), "tensors use");                                    // unaccounted bytes
    // A shape claiming 10^12 elements is refused before any allocation.
    expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,8]}})", data), "elements");
    expect_error(make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", data),
                 "overflows");
}

TEST(safetensors, atomic_save_keeps_the_old_file_when_the_write_fails) {
    const std::string dir = std::string(SNNKIT_BINARY_DIR) + "/tmp_safetensors_test";
    make_dirs(dir);
    const std::string p = dir + "/a.safetensors";
    safetensors_save(p, {{"x", at::ones({3})}});
    EXPECT_THROW(safetensors_save(p, {{"x", at::ones({3}, at::kComplexFloat)}}), snnkit::error);
    const named_tensors back = safetensors_load(p);
    EXPECT_TRUE(at::equal(back[0].second, at::ones({3})));
    EXPECT_THROW(safetensors_load(dir + "/missing.safetensors"), snnkit::error);
    EXPECT_THROW(write_file_atomic(dir + "/no/such/dir/f", "x"), snnkit::error);
}

// Each tensor gets one header entry and one data block: a name given twice (a second entry would replace the
// first while both blocks were written, a file that then fails to load) or the reserved "__metadata__" is
// refused at encoding.
TEST(safetensors, duplicate_or_reserved_names_are_refused_at_encoding) {
    const named_tensors twice = {{"w", at::zeros({2})}, {"w", at::ones({3})}};
    const named_tensors reserved = {{"__metadata__", at::zeros({2})}};
    for (const named_tensors * t : {&twice, &reserved}) {
        try {
            safetensors_encode(*t, {});
            FAIL() << "encoded " << t->front().first;
        } catch (const snnkit::error & e) {
            EXPECT_NE(std::string(e.what()).find("'" + t->front().first + "' is used twice (or is reserved)"),
                      std::string::npos)
                << e.what();
        }
    }
}
