// tests/data/data_fixtures.h: helpers that generate dataset fixtures at run time (temp dirs, IDX and
// CIFAR records, JPEG and PNG files encoded with libjpeg / libpng).
//
// The test programs link libjpeg and libpng directly (see CMakeLists.txt) to write the fixtures.
#pragma once

#include "snnkit/core/error.h"
#include "snnkit/data/file_util.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <jpeglib.h>
#include <png.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace snnkit_test {

namespace fs = std::filesystem;

// --------------------------------------------------------------------------------------- temp dir

/// A fresh directory under the system temp dir, removed with its contents on destruction.
struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("snnkit_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string & rel) const { return (path / rel).string(); }
    std::string str() const { return path.string(); }
};

inline void write_bytes(const std::string & path, const std::vector<uint8_t> & b) {
    fs::create_directories(fs::path(path).parent_path());
    snnkit::detail::write_file(path, b.data(), b.size());
}

inline std::vector<uint8_t> gzip(const std::vector<uint8_t> & b) {
    return snnkit::detail::gzip_bytes(b.data(), b.size());
}

inline void put_be32(std::vector<uint8_t> & out, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

/// IDX file bytes: magic 0 0 type ndims, dims, then payload.
inline std::vector<uint8_t> idx_bytes(const std::vector<uint32_t> & dims, const std::vector<uint8_t> & payload,
                                      uint8_t type = 0x08) {
    std::vector<uint8_t> out = {0, 0, type, static_cast<uint8_t>(dims.size())};
    for (auto d : dims) put_be32(out, d);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

/// Runs f and returns the snnkit::error message; fails the test if nothing (or something else) is thrown.
template <class F>
std::string error_of(F && f) {
    try {
        f();
    } catch (const snnkit::error & e) {
        return e.what();
    } catch (const std::exception & e) {
        ADD_FAILURE() << "expected snnkit::error, got std::exception: " << e.what();
        return "";
    }
    ADD_FAILURE() << "expected snnkit::error, nothing thrown";
    return "";
}

/// True if msg is one line containing every needle.
inline ::testing::AssertionResult one_line_with(const std::string & msg, std::initializer_list<std::string> needles) {
    if (msg.empty()) return ::testing::AssertionFailure() << "empty message";
    if (msg.find('\n') != std::string::npos) return ::testing::AssertionFailure() << "multi-line: " << msg;
    for (const auto & n : needles)
        if (msg.find(n) == std::string::npos) return ::testing::AssertionFailure() << "'" << n << "' not in: " << msg;
    return ::testing::AssertionSuccess();
}

// --------------------------------------------------------------------- libjpeg / libpng encoders

/// Encodes interleaved pixels (components 1 = gray or 3 = RGB) as a baseline JPEG.
inline std::vector<uint8_t> encode_jpeg(const std::vector<uint8_t> & px, int w, int h, int comps, int quality = 95) {
    jpeg_compress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_CreateCompress(&c, JPEG_LIB_VERSION, sizeof(c));
    unsigned char * mem = nullptr;
    unsigned long mem_size = 0;
    jpeg_mem_dest(&c, &mem, &mem_size);
    c.image_width = w;
    c.image_height = h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < h; ++y) {
        JSAMPROW row = const_cast<uint8_t *>(px.data()) + size_t(y) * w * comps;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    std::vector<uint8_t> out(mem, mem + mem_size);
    jpeg_destroy_compress(&c);
    std::free(mem);
    return out;
}

inline void png_write_to_vector(png_structp png, png_bytep data, png_size_t n) {
    auto * v = static_cast<std::vector<uint8_t> *>(png_get_io_ptr(png));
    v->insert(v->end(), data, data + n);
}
inline void png_flush_nop(png_structp) {}

/// Encodes rows of raw PNG samples (already in the layout of color_type / bit_depth; 16-bit samples
/// big-endian). `palette` is used for PNG_COLOR_TYPE_PALETTE.
inline std::vector<uint8_t> encode_png(const std::vector<uint8_t> & raw, int w, int h, int color_type, int bit_depth,
                                       bool interlace = false, const std::vector<png_color> & palette = {},
                                       const std::vector<uint8_t> & palette_alpha = {}) {
    std::vector<uint8_t> out;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &out, png_write_to_vector, png_flush_nop);
    png_set_IHDR(png, info, w, h, bit_depth, color_type, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                  PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
    if (color_type == PNG_COLOR_TYPE_PALETTE && !palette_alpha.empty()) // a tRNS chunk: per-entry alpha
        png_set_tRNS(png, info, palette_alpha.data(), static_cast<int>(palette_alpha.size()), nullptr);
    png_write_info(png, info);
    const size_t row_bytes = raw.size() / h;
    std::vector<png_bytep> rows(h);
    for (int y = 0; y < h; ++y) rows[y] = const_cast<uint8_t *>(raw.data()) + y * row_bytes;
    png_write_image(png, rows.data());
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
}

/// A deterministic RGB test pattern, interleaved HWC.
inline std::vector<uint8_t> pattern_rgb(int w, int h, int seed) {
    std::vector<uint8_t> px(size_t(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                px[(size_t(y) * w + x) * 3 + c] = static_cast<uint8_t>((x * 7 + y * 13 + c * 50 + seed * 31) & 0xFF);
    return px;
}

/// A smooth RGB image (compresses well with JPEG: decoded values stay within a few levels).
inline std::vector<uint8_t> smooth_rgb(int w, int h, int seed) {
    std::vector<uint8_t> px(size_t(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            px[(size_t(y) * w + x) * 3 + 0] = static_cast<uint8_t>(40 + seed * 20 + x * 2);
            px[(size_t(y) * w + x) * 3 + 1] = static_cast<uint8_t>(60 + y * 3);
            px[(size_t(y) * w + x) * 3 + 2] = static_cast<uint8_t>(200 - seed * 10);
        }
    return px;
}

} // namespace snnkit_test
