// Resource limits of the image decoders: a small file whose header claims a huge image is refused (PNG) or
// stops at its end of data (JPEG) without allocating the pixel buffer the header asks for.
#include "data_fixtures.h"
#include "snnkit/data/dataset.h"

#include <sys/resource.h>
#include <zlib.h>

using namespace snnkit_test;

namespace {

/// Peak resident memory of this process so far, in MiB.
double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024.0;
}

void put_be32_at(std::vector<uint8_t> & b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

} // namespace

// IHDR says 60000 x 4000 RGB (2.4e8 pixels: under the 2^28 pixel cap and libpng's 65536 per side) but the
// file is ~100 bytes: 720 MB of rows cannot come out of it (deflate expands at most ~1032:1).
TEST(DataLimits, PngHeaderLargerThanItsDataIsRefused) {
    auto png = encode_png(pattern_rgb(4, 4, 1), 4, 4, PNG_COLOR_TYPE_RGB, 8);
    put_be32_at(png, 16, 60000);  // IHDR data starts at 16: width, height
    put_be32_at(png, 20, 4000);
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), png.data() + 12, 17);  // over "IHDR" + its 13 data bytes
    put_be32_at(png, 29, static_cast<uint32_t>(crc));
    temp_dir t;
    write_bytes(t / "train/c/huge.png", png);
    const double before = peak_rss_mib();
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_image_folder(t.str(), snnkit::split::train); }),
                              {"huge.png", "undecodable PNG", "more pixel data than the file can hold"}));
    EXPECT_LT(peak_rss_mib() - before, 100.0);
}

// SOF0 says 16000 x 16000 (2.56e8 pixels, under the cap) for 8x8 pixels of data followed by EOI: libjpeg warns
// "premature end of data segment" and would fill the rest with gray (before: a 1.4 GB peak for a 600-byte
// file, and no error). Now that is an error, and the row buffer grows with the decoded rows only.
TEST(DataLimits, TruncatedHugeJpegStopsWithoutTheFullBuffer) {
    auto jpg = encode_jpeg(smooth_rgb(8, 8, 0), 8, 8, 3, 90);
    size_t i = 2;
    while (i + 9 < jpg.size() && !(jpg[i] == 0xFF && jpg[i + 1] == 0xC0)) {
        i += 2 + (size_t(jpg[i + 2]) << 8 | jpg[i + 3]);
    }
    ASSERT_LT(i + 9, jpg.size()) << "no SOF0 marker";
    jpg[i + 5] = 16000 >> 8;  // height
    jpg[i + 6] = 16000 & 0xFF;
    jpg[i + 7] = 16000 >> 8;  // width
    jpg[i + 8] = 16000 & 0xFF;
    temp_dir t;
    write_bytes(t / "train/c/huge.jpg", jpg);
    const double before = peak_rss_mib();
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_image_folder(t.str(), snnkit::split::train); }),
                              {"huge.jpg", "truncated JPEG data (premature end of data segment)"}));
    EXPECT_LT(peak_rss_mib() - before, 200.0);
}
