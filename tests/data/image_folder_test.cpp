// tests/data/image_folder_test.cpp: ImageFolder loader on JPEG/PNG files encoded at run time, corrupt
// files, and the real CIFAR-10 JPEG test split.
#include "data/data_fixtures.h"
#include "snnkit/data/dataset.h"
#include "snnkit/data/dataset_by_name.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>

using namespace snnkit_test;
using snnkit::dataset;
using snnkit::image_folder_options;
using snnkit::split;

namespace {

// Pixel (x, y, c) of image i of a dataset, CHW.
int px(const dataset & d, int64_t i, int c, int y, int x) { return d.images[i][c][y][x].item<int>(); }

// Expects image i to equal the interleaved RGB buffer exactly (tol = 0) or within tol.
void expect_image(const dataset & d, int64_t i, const std::vector<uint8_t> & rgb, int w, int h, int tol = 0) {
    ASSERT_EQ(d.images.size(2), h);
    ASSERT_EQ(d.images.size(3), w);
    const uint8_t * p = d.images.data_ptr<uint8_t>() + i * 3 * h * w;
    int worst = 0;
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                worst = std::max(worst, std::abs(int(p[(c * h + y) * w + x]) - int(rgb[(size_t(y) * w + x) * 3 + c])));
    EXPECT_LE(worst, tol) << "image " << i;
}

// A small two-class PNG dataset: cats (2 images) and dogs (1), with files to be ignored.
void write_small_png_folder(const temp_dir & t) {
    write_bytes(t / "train/dogs/a.png", encode_png(pattern_rgb(5, 4, 3), 5, 4, PNG_COLOR_TYPE_RGB, 8));
    write_bytes(t / "train/cats/z.PNG", encode_png(pattern_rgb(5, 4, 2), 5, 4, PNG_COLOR_TYPE_RGB, 8));
    write_bytes(t / "train/cats/b.png", encode_png(pattern_rgb(5, 4, 1), 5, 4, PNG_COLOR_TYPE_RGB, 8));
    write_bytes(t / "train/cats/notes.txt", {'h', 'i'});
    write_bytes(t / "train/cats/.hidden.png", {'x'});
    write_bytes(t / "train/.cache/x.png", {'x'});
    std::filesystem::create_directories(t / "test");
}

} // namespace

TEST(ImageFolder, PngClassesSortedAndExactPixels) {
    temp_dir t;
    write_small_png_folder(t);
    dataset d = snnkit::load_image_folder(t.str(), split::train);
    ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{3, 3, 4, 5}));
    EXPECT_EQ(d.num_classes, 2);
    EXPECT_EQ(d.class_names, (std::vector<std::string>{"cats", "dogs"}));
    EXPECT_EQ(std::vector<int64_t>(d.labels.data_ptr<int64_t>(), d.labels.data_ptr<int64_t>() + 3),
              (std::vector<int64_t>{0, 1, 0})); // classes interleaved: cats/b, dogs/a, cats/z
    expect_image(d, 0, pattern_rgb(5, 4, 1), 5, 4);  // cats/b.png before cats/z.PNG
    expect_image(d, 1, pattern_rgb(5, 4, 3), 5, 4);
    expect_image(d, 2, pattern_rgb(5, 4, 2), 5, 4);
}

TEST(ImageFolder, PngColorTypesConvertedToRgb) {
    temp_dir t;
    const int w = 6, h = 3;
    std::vector<uint8_t> gray(w * h), ga, rgba, rgb16, pal_idx(w * h);
    for (int i = 0; i < w * h; ++i) {
        gray[i] = static_cast<uint8_t>(i * 13);
        ga.push_back(gray[i]);
        ga.push_back(static_cast<uint8_t>(255 - i));
    }
    auto rgb = pattern_rgb(w, h, 4);
    for (int i = 0; i < w * h; ++i) {
        for (int c = 0; c < 3; ++c) rgba.push_back(rgb[i * 3 + c]);
        rgba.push_back(static_cast<uint8_t>(i * 5));  // alpha is dropped
        for (int c = 0; c < 3; ++c) {
            rgb16.push_back(rgb[i * 3 + c]);  // big-endian: the high byte survives strip_16
            rgb16.push_back(0x7F);
        }
    }
    std::vector<png_color> palette = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    std::vector<uint8_t> pal_rgb;
    for (int i = 0; i < w * h; ++i) {
        pal_idx[i] = static_cast<uint8_t>(i % 4);
        pal_rgb.push_back(palette[i % 4].red);
        pal_rgb.push_back(palette[i % 4].green);
        pal_rgb.push_back(palette[i % 4].blue);
    }
    std::vector<uint8_t> gray_rgb;
    for (auto g : gray) gray_rgb.insert(gray_rgb.end(), {g, g, g});
    write_bytes(t / "train/a/0_gray.png", encode_png(gray, w, h, PNG_COLOR_TYPE_GRAY, 8));
    write_bytes(t / "train/a/1_gray_alpha.png", encode_png(ga, w, h, PNG_COLOR_TYPE_GRAY_ALPHA, 8));
    write_bytes(t / "train/a/2_rgba.png", encode_png(rgba, w, h, PNG_COLOR_TYPE_RGB_ALPHA, 8));
    write_bytes(t / "train/a/3_rgb16.png", encode_png(rgb16, w, h, PNG_COLOR_TYPE_RGB, 16));
    write_bytes(t / "train/a/4_palette.png", encode_png(pal_idx, w, h, PNG_COLOR_TYPE_PALETTE, 8, false, palette));
    write_bytes(t / "train/a/5_interlaced.png", encode_png(rgb, w, h, PNG_COLOR_TYPE_RGB, 8, /*interlace=*/true));
    // a palette with transparency (tRNS): the alpha is dropped, as PIL's convert("RGB") does
    write_bytes(t / "train/a/6_palette_trns.png",
                encode_png(pal_idx, w, h, PNG_COLOR_TYPE_PALETTE, 8, false, palette, {0, 128, 255}));
    dataset d = snnkit::load_image_folder(t.str(), split::train);
    ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{7, 3, h, w}));
    expect_image(d, 0, gray_rgb, w, h);
    expect_image(d, 1, gray_rgb, w, h);
    expect_image(d, 2, rgb, w, h);
    expect_image(d, 3, rgb, w, h);
    expect_image(d, 4, pal_rgb, w, h);
    expect_image(d, 5, rgb, w, h);
    expect_image(d, 6, pal_rgb, w, h);
}

TEST(ImageFolder, JpegRgbAndGray) {
    temp_dir t;
    const int w = 16, h = 16;
    auto rgb = smooth_rgb(w, h, 1);
    std::vector<uint8_t> gray(w * h), gray_rgb;
    for (int i = 0; i < w * h; ++i) gray[i] = static_cast<uint8_t>(50 + i / 2);
    for (auto g : gray) gray_rgb.insert(gray_rgb.end(), {g, g, g});
    write_bytes(t / "test/x/rgb.jpg", encode_jpeg(rgb, w, h, 3, 98));
    write_bytes(t / "test/y/gray.jpeg", encode_jpeg(gray, w, h, 1, 98));
    write_bytes(t / "test/y/png_named_jpg.jpg", encode_png(rgb, w, h, PNG_COLOR_TYPE_RGB, 8));  // format by magic
    dataset d = snnkit::load_image_folder(t.str(), split::test);
    ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{3, 3, h, w}));
    expect_image(d, 0, rgb, w, h, 8);
    expect_image(d, 1, gray_rgb, w, h, 3);
    expect_image(d, 2, rgb, w, h, 0);
}

TEST(ImageFolder, ResizeAndCenterCrop) {
    temp_dir t;
    // 8x4 (w x h) and 4x6 images: mixed sizes are fine with a crop.
    std::vector<uint8_t> a(8 * 4 * 3), b(4 * 6 * 3, 200);
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 8; ++x)
            for (int c = 0; c < 3; ++c) a[(y * 8 + x) * 3 + c] = static_cast<uint8_t>(x * 10 + c);
    write_bytes(t / "train/c/a.png", encode_png(a, 8, 4, PNG_COLOR_TYPE_RGB, 8));
    write_bytes(t / "train/c/b.png", encode_png(b, 4, 6, PNG_COLOR_TYPE_RGB, 8));
    image_folder_options crop_only;
    crop_only.crop = 4;
    dataset d = snnkit::load_image_folder(t.str(), split::train, crop_only);
    ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
    for (int x = 0; x < 4; ++x) EXPECT_EQ(px(d, 0, 1, 2, x), (x + 2) * 10 + 1);  // columns 2..5 of a
    EXPECT_EQ(px(d, 1, 2, 3, 3), 200);

    // Shorter side 2: a (8x4) -> 4x2 by exact 2:1 bilinear = average of each 2x2 block; b -> 2x3.
    image_folder_options rs;
    rs.resize = 2;
    rs.crop = 2;
    dataset r = snnkit::load_image_folder(t.str(), split::train, rs);
    ASSERT_EQ(r.images.sizes(), (std::vector<int64_t>{2, 3, 2, 2}));
    // After resize a has columns (x*10 averaged over pairs): 5, 25, 45, 65 (+c); crop keeps 25, 45.
    EXPECT_EQ(px(r, 0, 0, 0, 0), 25);
    EXPECT_EQ(px(r, 0, 0, 1, 1), 45);
    EXPECT_EQ(px(r, 0, 2, 0, 0), 27);
    EXPECT_EQ(px(r, 1, 0, 1, 1), 200);

    image_folder_options too_big;
    too_big.crop = 5;
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_image_folder(t.str(), split::train, too_big); }),
                              {"a.png", "smaller than the crop"}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_image_folder(t.str(), split::train); }),
                              {"b.png", "4x6", "differs", "8x4"}));
}

// Resizing (shrinking by 2.3 and 4, enlarging by 2.9) matches ATen's antialiased bilinear interpolation
// (PIL's filter) on the same pixels within one grey level (snnkit filters the uint8 image in float and rounds once).
TEST(ImageFolder, ResizeMatchesAtenAntialiasedBilinear) {
    struct resize_case { int w, h, size, nw, nh; };
    for (const resize_case rc : {resize_case{37, 23, 10, 16, 10}, resize_case{24, 40, 6, 6, 10},
                                 resize_case{9, 7, 20, 25, 20}}) {
        temp_dir t;
        const std::vector<uint8_t> rgb = pattern_rgb(rc.w, rc.h, rc.size);  // wraps around: high frequencies
        write_bytes(t / "train/c/a.png", encode_png(rgb, rc.w, rc.h, PNG_COLOR_TYPE_RGB, 8));
        image_folder_options o;
        o.resize = rc.size;
        dataset d = snnkit::load_image_folder(t.str(), split::train, o);
        ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{1, 3, rc.nh, rc.nw})) << rc.w << "x" << rc.h;
        at::Tensor hwc = at::from_blob(const_cast<uint8_t *>(rgb.data()), {rc.h, rc.w, 3}, at::kByte);
        at::Tensor x = hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).contiguous();
        at::Tensor ref = at::_upsample_bilinear2d_aa(x, {rc.nh, rc.nw}, false).round().clamp(0, 255);
        const double worst = (d.images.to(at::kFloat) - ref).abs().max().item<double>();
        EXPECT_LE(worst, 1.0) << rc.w << "x" << rc.h << " -> " << rc.nw << "x" << rc.nh;
        if (rc.size < std::min(rc.w, rc.h)) {  // and differs from plain (aliasing) bilinear when shrinking
            at::Tensor plain = at::upsample_bilinear2d(x, {rc.nh, rc.nw}, false).round();
            EXPECT_GT((d.images.to(at::kFloat) - plain).abs().max().item<double>(), 10.0);
        }
    }
}

TEST(ImageFolder, ThreadCountDoesNotChangeResult) {
    temp_dir t;
    for (int i = 0; i < 40; ++i) {
        std::string name = "train/k" + std::to_string(i % 3) + "/" + std::to_string(i);
        if (i % 2) write_bytes(t / (name + ".jpg"), encode_jpeg(smooth_rgb(12, 12, i % 5), 12, 12, 3, 90));
        else write_bytes(t / (name + ".png"), encode_png(pattern_rgb(12, 12, i), 12, 12, PNG_COLOR_TYPE_RGB, 8));
    }
    const int saved = at::get_num_threads();
    at::set_num_threads(2);
    image_folder_options one;
    one.threads = 1;
    dataset a = snnkit::load_image_folder(t.str(), split::train, one);
    dataset b = snnkit::load_image_folder(t.str(), split::train);  // all threads
    at::set_num_threads(saved);
    EXPECT_EQ(a.images.size(0), 40);
    EXPECT_TRUE(a.images.equal(b.images));
    EXPECT_TRUE(a.labels.equal(b.labels));
}

// ------------------------------------------------------------------------------------ bad input

TEST(ImageFolderErrors, MissingAndEmpty) {
    temp_dir t;
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_image_folder(t / "nope", split::train); }), {"nope", "not found"}));
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_image_folder(t.str(), split::train); }),
                              {"train", "split directory not found"}));
    std::filesystem::create_directories(t / "train");
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_image_folder(t.str(), split::train); }),
                              {"train", "no class directories"}));
    write_bytes(t / "train/a/1.png", encode_png(pattern_rgb(4, 4, 0), 4, 4, PNG_COLOR_TYPE_RGB, 8));
    write_bytes(t / "train/b/readme.txt", {'x'});
    EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_image_folder(t.str(), split::train); }),
                              {"train/b", "empty class directory"}));
}

// A class folder missing from the test split would shift the test labels after it: refused, naming the
// first folder that differs.
TEST(ImageFolderErrors, SplitsWithDifferentClassFolders) {
    temp_dir t;
    for (const char * c : {"cats", "dogs", "owls"}) {
        write_bytes(t / ("train/" + std::string(c) + "/a.png"), encode_png(pattern_rgb(4, 4, 1), 4, 4, PNG_COLOR_TYPE_RGB, 8));
    }
    for (const char * c : {"cats", "owls"}) { // no dogs: owls would get label 1 here, 2 in train
        write_bytes(t / ("test/" + std::string(c) + "/a.png"), encode_png(pattern_rgb(4, 4, 2), 4, 4, PNG_COLOR_TYPE_RGB, 8));
    }
    const dataset train = snnkit::load_image_folder(t.str(), split::train);
    const dataset test = snnkit::load_image_folder(t.str(), split::test);
    ASSERT_EQ(test.class_names.size(), 2u);
    EXPECT_EQ(test.class_names[1], "owls"); // label 1 here, 2 in train: the shift the check guards against
    try {
        snnkit::check_same_classes(train, test, t.str());
        FAIL() << "splits with different class folders were accepted";
    } catch (const snnkit::error & e) {
        const std::string m = e.what();
        EXPECT_NE(m.find(t.str()), std::string::npos) << m;
        EXPECT_NE(m.find("3 vs 2; first difference: train 'dogs', test 'owls'"), std::string::npos) << m;
    }
    EXPECT_NO_THROW(snnkit::check_same_classes(train, train, t.str()));
    dataset unnamed = test; // IDX files name no classes: nothing to compare
    unnamed.class_names.clear();
    EXPECT_NO_THROW(snnkit::check_same_classes(train, unnamed, t.str()));
}

TEST(ImageFolderErrors, CorruptImages) {
    auto rgb = smooth_rgb(16, 16, 2);
    auto jpg = encode_jpeg(rgb, 16, 16, 3, 90);
    auto png = encode_png(pattern_rgb(16, 16, 0), 16, 16, PNG_COLOR_TYPE_RGB, 8);
    struct bad_case {
        std::string name;
        std::vector<uint8_t> bytes;
        std::string expect;
    };
    std::vector<uint8_t> png_bad_crc = png;
    png_bad_crc[29] ^= 0xFF;  // inside the IHDR CRC
    std::vector<uint8_t> jpg_garbled = jpg;
    for (size_t i = 4; i < 40 && i < jpg_garbled.size(); ++i) jpg_garbled[i] = 0x00;  // wreck the markers after SOI
    std::vector<uint8_t> png_absurd = png;
    png_absurd[16] = 0x7F;  // width 2^31-ish in IHDR (CRC now wrong too; either error is fine)
    std::vector<bad_case> cases = {
        {"garbage.jpg", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'}, "not a JPEG or PNG"},
        {"empty.png", {}, "empty image file"},
        {"truncated.jpg", std::vector<uint8_t>(jpg.begin(), jpg.begin() + jpg.size() / 2), "truncated JPEG"},
        {"header_only.jpg", std::vector<uint8_t>(jpg.begin(), jpg.begin() + 20), "undecodable JPEG"},
        {"garbled.jpg", jpg_garbled, "undecodable JPEG"},
        {"truncated.png", std::vector<uint8_t>(png.begin(), png.begin() + png.size() / 2), "undecodable PNG"},
        {"badcrc.png", png_bad_crc, "undecodable PNG"},
        {"absurd.png", png_absurd, "undecodable PNG"},
    };
    for (const auto & c : cases) {
        temp_dir t;
        write_bytes(t / "train/ok/good.jpg", jpg);
        write_bytes(t / ("train/ok/" + c.name), c.bytes);
        EXPECT_TRUE(one_line_with(error_of([&] { snnkit::load_image_folder(t.str(), split::train); }), {c.name, c.expect}))
            << c.name;
    }
}

// ------------------------------------------------------------------------------------ real data

TEST(ImageFolderReal, Cifar10JpegTestSplit) {
    const std::string tarball = SNNKIT_SOURCE_DIR "/../shared/datasets/cifar10-jpeg.tar.gz";
    if (!snnkit::detail::is_file(tarball)) GTEST_SKIP() << tarball << " not present";
    // Unpack the test split once into the build tree (about 40 MB on disk, a few seconds); the marker
    // file says a previous unpack completed.
    const std::string root = SNNKIT_BINARY_DIR "/datasets/cifar10-jpeg";
    if (!snnkit::detail::is_file(root + "/.unpacked_test")) {
        std::filesystem::remove_all(root);
        std::filesystem::create_directories(root);
        const std::string cmd =
            "tar xzf '" + tarball + "' -C '" + root + "' test && touch '" + root + "/.unpacked_test'";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    const int saved = at::get_num_threads();
    at::set_num_threads(2);
    dataset d = snnkit::load_image_folder(root, split::test);
    at::set_num_threads(saved);
    ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{10000, 3, 32, 32}));
    EXPECT_EQ(d.num_classes, 10);
    EXPECT_EQ(d.class_names, (std::vector<std::string>{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                       "horse", "ship", "truck"}));
    std::vector<int64_t> hist(10, 0);
    for (int64_t i = 0; i < 10000; ++i) ++hist[d.labels[i].item<int64_t>()];
    EXPECT_EQ(hist, std::vector<int64_t>(10, 1000));
    // Natural images: mean intensity well inside (0, 255).
    double mean = d.images.to(at::kFloat).mean().item<double>();
    EXPECT_GT(mean, 90.0);
    EXPECT_LT(mean, 150.0);
}
