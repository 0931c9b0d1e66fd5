// tests/data/idx_test.cpp: IDX / MNIST-directory loader, on generated fixtures and the real data sets.
#include "data/data_fixtures.h"
#include "snnkit/data/dataset.h"

#include <gtest/gtest.h>

using namespace snnkit_test;
using snnkit::dataset;
using snnkit::split;

namespace {

// 5 images of 3x4 with pixel value 10*i + j, labels 0..4.
std::vector<uint8_t> small_images_payload() {
    std::vector<uint8_t> p;
    for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 12; ++j) p.push_back(static_cast<uint8_t>(10 * i + j));
    return p;
}
std::vector<uint8_t> small_images() { return idx_bytes({5, 3, 4}, small_images_payload()); }
std::vector<uint8_t> small_labels() { return idx_bytes({5}, {3, 0, 4, 1, 2}); }

void expect_small(const dataset & d) {
    ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{5, 1, 3, 4}));
    EXPECT_EQ(d.images.scalar_type(), at::kByte);
    ASSERT_EQ(d.labels.sizes(), (std::vector<int64_t>{5}));
    EXPECT_EQ(d.labels.scalar_type(), at::kLong);
    EXPECT_EQ(d.num_classes, 5);
    auto p = small_images_payload();
    EXPECT_EQ(0, std::memcmp(d.images.data_ptr<uint8_t>(), p.data(), p.size()));
    std::vector<int64_t> labels(d.labels.data_ptr<int64_t>(), d.labels.data_ptr<int64_t>() + 5);
    EXPECT_EQ(labels, (std::vector<int64_t>{3, 0, 4, 1, 2}));
}

} // namespace

TEST(Idx, RawAndGzipRoundTrip) {
    temp_dir t;
    write_bytes(t / "img", small_images());
    write_bytes(t / "lab", small_labels());
    write_bytes(t / "img.gz", gzip(small_images()));
    write_bytes(t / "lab.gz", gzip(small_labels()));
    expect_small(snnkit::load_idx(t / "img", t / "lab"));
    expect_small(snnkit::load_idx(t / "img.gz", t / "lab.gz"));
    expect_small(snnkit::load_idx(t / "img.gz", t / "lab"));
}

TEST(Idx, GzipDetectedByMagicNotExtension) {
    temp_dir t;
    write_bytes(t / "images.bin", gzip(small_images()));  // gzipped, no .gz
    write_bytes(t / "labels.gz", small_labels());          // raw despite the .gz
    expect_small(snnkit::load_idx(t / "images.bin", t / "labels.gz"));
}

TEST(Idx, ConcatenatedGzipMembers) {
    temp_dir t;
    auto img = small_images();
    std::vector<uint8_t> a(img.begin(), img.begin() + 20), b(img.begin() + 20, img.end());
    auto ga = gzip(a), gb = gzip(b);
    ga.insert(ga.end(), gb.begin(), gb.end());
    write_bytes(t / "img.gz", ga);
    write_bytes(t / "lab", small_labels());
    expect_small(snnkit::load_idx(t / "img.gz", t / "lab"));
}

TEST(Idx, MnistDirRawAndGz) {
    temp_dir t;
    write_bytes(t / "train-images-idx3-ubyte", small_images());
    write_bytes(t / "train-labels-idx1-ubyte", small_labels());
    write_bytes(t / "t10k-images-idx3-ubyte.gz", gzip(idx_bytes({2, 3, 4}, std::vector<uint8_t>(24, 7))));
    write_bytes(t / "t10k-labels-idx1-ubyte.gz", gzip(idx_bytes({2}, {9, 1})));
    dataset tr = snnkit::load_mnist_dir(t.str(), split::train);
    expect_small(dataset{tr.images, tr.labels, 5, {}});
    EXPECT_EQ(tr.num_classes, 10);
    dataset te = snnkit::load_mnist_dir(t.str(), split::test);
    EXPECT_EQ(te.images.size(0), 2);
    EXPECT_EQ(te.labels[0].item<int64_t>(), 9);
    EXPECT_EQ(te.num_classes, 10);
}

// ------------------------------------------------------------------------------------ bad input

TEST(IdxErrors, MissingFileAndDir) {
    temp_dir t;
    write_bytes(t / "lab", small_labels());
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "nope", t / "lab"); }), {"nope", "not found"}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_mnist_dir(t / "missing_dir", split::train); }),
                              {"missing_dir", "not found"}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_mnist_dir(t.str(), split::train); }),
                              {t.str(), "train-images-idx3-ubyte"}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t.str(), t / "lab"); }), {"directory"}));
}

TEST(IdxErrors, WrongMagicAndType) {
    temp_dir t;
    write_bytes(t / "lab", small_labels());
    write_bytes(t / "labels_as_images", small_labels());
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "labels_as_images", t / "lab"); }),
                              {"labels_as_images", "wrong magic number 0x00000801", "expected 0x00000803"}));
    write_bytes(t / "float_images", idx_bytes({5, 3, 4}, std::vector<uint8_t>(240), 0x0D));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "float_images", t / "lab"); }),
                              {"float_images", "unsupported IDX data type", "float32"}));
    write_bytes(t / "garbage", std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'});
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "garbage", t / "lab"); }), {"garbage", "wrong magic"}));
    write_bytes(t / "empty", {});
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "empty", t / "lab"); }), {"empty", "truncated"}));
    write_bytes(t / "garbage.gz", gzip({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "garbage.gz", t / "lab"); }), {"garbage.gz", "wrong magic"}));
}

TEST(IdxErrors, TruncatedRawAndGzip) {
    temp_dir t;
    write_bytes(t / "lab", small_labels());
    auto img = small_images();
    std::vector<uint8_t> cut(img.begin(), img.end() - 7);  // header says 60 bytes, 53 present
    write_bytes(t / "cut", cut);
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "cut", t / "lab"); }), {"cut", "truncated"}));
    write_bytes(t / "cut.gz", gzip(cut));  // a valid gzip stream of too little data
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "cut.gz", t / "lab"); }), {"cut.gz", "truncated"}));
    auto gz = gzip(img);
    write_bytes(t / "cutstream.gz", std::vector<uint8_t>(gz.begin(), gz.begin() + gz.size() / 2));  // gzip cut short
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "cutstream.gz", t / "lab"); }), {"cutstream.gz"}));
    write_bytes(t / "header_only", std::vector<uint8_t>(img.begin(), img.begin() + 6));  // dims cut short
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "header_only", t / "lab"); }), {"header_only", "truncated"}));
}

TEST(IdxErrors, CorruptGzip) {
    temp_dir t;
    write_bytes(t / "lab", small_labels());
    auto gz = gzip(small_images());
    for (size_t i = 12; i < gz.size() - 8; ++i) gz[i] ^= 0x5A;  // scramble the deflate data
    write_bytes(t / "bad.gz", gz);
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "bad.gz", t / "lab"); }), {"bad.gz"}));
    auto gz2 = gzip(small_images());
    gz2[gz2.size() - 6] ^= 0xFF;  // CRC mismatch in the trailer
    write_bytes(t / "crc.gz", gz2);
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "crc.gz", t / "lab"); }), {"crc.gz"}));
}

TEST(IdxErrors, AbsurdHeaderRefusedBeforeAllocating) {
    temp_dir t;
    write_bytes(t / "lab", small_labels());
    // 10^12 items of 1x1 (and 10^6 x 10^3 x 10^3) in a tiny file, raw and gzipped.
    write_bytes(t / "huge", idx_bytes({1000000, 1000, 1000}, {1, 2, 3}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "huge", t / "lab"); }), {"huge", "truncated", "1000000 images"}));
    write_bytes(t / "huge.gz", gzip(idx_bytes({1000000, 1000, 1000}, {1, 2, 3})));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "huge.gz", t / "lab"); }), {"huge.gz", "absurd header"}));
    write_bytes(t / "huge_labels", idx_bytes({4000000000u}, {1, 2, 3}));
    write_bytes(t / "img", small_images());
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "img", t / "huge_labels"); }), {"huge_labels", "truncated"}));
    // 2^32-1 cubed overflows nothing in 64 bits? (4.29e9)^3 does: must be reported, not wrapped.
    write_bytes(t / "overflow", idx_bytes({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, {}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "overflow", t / "lab"); }), {"overflow", "overflows"}));
    write_bytes(t / "zero", idx_bytes({0, 28, 28}, {}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "zero", t / "lab"); }), {"zero", "0 images"}));
}

TEST(IdxErrors, CountMismatchAndTrailingData) {
    temp_dir t;
    write_bytes(t / "img", small_images());
    write_bytes(t / "lab4", idx_bytes({4}, {0, 1, 2, 3}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "img", t / "lab4"); }),
                              {"lab4", "count mismatch", "4 labels", "5 images"}));
    auto lab = small_labels();
    lab.push_back(0);
    write_bytes(t / "lab_extra", lab);
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_idx(t / "img", t / "lab_extra"); }), {"lab_extra", "trailing"}));
}

// ------------------------------------------------------------------------------------ real data

namespace {

std::vector<int64_t> label_histogram(const at::Tensor & labels, int64_t k) {
    std::vector<int64_t> h(k, 0);
    const int64_t * p = labels.data_ptr<int64_t>();
    for (int64_t i = 0; i < labels.size(0); ++i) {
        EXPECT_GE(p[i], 0);
        EXPECT_LT(p[i], k);
        if (p[i] >= 0 && p[i] < k) ++h[p[i]];
    }
    return h;
}

std::vector<int64_t> first_labels(const at::Tensor & labels, int n) {
    return std::vector<int64_t>(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + n);
}

} // namespace

TEST(IdxReal, FashionMnist) {
    const std::string dir = "/usr/share/datasets/fashion-mnist";
    if (!snnkit::detail::is_dir(dir)) GTEST_SKIP() << dir << " not installed";
    dataset tr = snnkit::load_mnist_dir(dir, split::train);
    ASSERT_EQ(tr.images.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
    EXPECT_EQ(tr.num_classes, 10);
    EXPECT_EQ(label_histogram(tr.labels, 10), std::vector<int64_t>(10, 6000));
    EXPECT_EQ(first_labels(tr.labels, 10), (std::vector<int64_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
    dataset te = snnkit::load_mnist_dir(dir, split::test);
    ASSERT_EQ(te.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
    EXPECT_EQ(label_histogram(te.labels, 10), std::vector<int64_t>(10, 1000));
    EXPECT_EQ(first_labels(te.labels, 5), (std::vector<int64_t>{9, 2, 1, 1, 6}));
    // The usual normalisation constants: mean 0.2860, std 0.3530 of the train pixels / 255.
    at::Tensor x = tr.images.to(at::kFloat) / 255.0;
    EXPECT_NEAR(x.mean().item<double>(), 0.2860, 5e-4);
    EXPECT_NEAR(x.std().item<double>(), 0.3530, 5e-4);
    EXPECT_EQ(tr.images.max().item<int64_t>(), 255);
}

TEST(IdxReal, Mnist) {
    const std::string dir = SNNKIT_SOURCE_DIR "/../shared/datasets/mnist";
    if (!snnkit::detail::is_dir(dir)) GTEST_SKIP() << dir << " not present";
    dataset tr = snnkit::load_mnist_dir(dir, split::train);
    ASSERT_EQ(tr.images.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
    EXPECT_EQ(label_histogram(tr.labels, 10),
              (std::vector<int64_t>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}));
    EXPECT_EQ(first_labels(tr.labels, 5), (std::vector<int64_t>{5, 0, 4, 1, 9}));
    at::Tensor x = tr.images.to(at::kFloat) / 255.0;
    EXPECT_NEAR(x.mean().item<double>(), 0.1307, 5e-4);
    EXPECT_NEAR(x.std().item<double>(), 0.3081, 5e-4);
    dataset te = snnkit::load_mnist_dir(dir, split::test);
    ASSERT_EQ(te.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
    EXPECT_EQ(label_histogram(te.labels, 10),
              (std::vector<int64_t>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}));
    EXPECT_EQ(first_labels(te.labels, 10), (std::vector<int64_t>{7, 2, 1, 0, 4, 1, 4, 9, 5, 9}));
}
