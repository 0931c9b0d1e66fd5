// tests/data/augment_test.cpp: make_batch against a naive per-pixel reference, normalisation values,
// determinism and argument checks.
#include "data/data_fixtures.h"
#include "snnkit/data/augment.h"
#include "snnkit/data/dataset_by_name.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace snnkit_test;
using snnkit::augment_options;
using snnkit::make_batch;

namespace {

// Random uint8 images [n, c, h, w] (fixed generator seed).
at::Tensor random_images(int64_t n, int64_t c, int64_t h, int64_t w) {
    // A fixed pseudo-random pattern in 1..255 (so padding zeros stand out).
    at::Tensor v = at::arange(n * c * h * w, at::kLong);
    return ((v * 7919 + (v * v) % 101) % 255 + 1).to(at::kByte).view({n, c, h, w});
}

// The definition in augment.h, pixel by pixel.
at::Tensor reference_batch(const at::Tensor & images, const at::Tensor & idx, const augment_options & opt, uint64_t seed) {
    const int64_t B = idx.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
    at::Tensor out = at::empty({B, C, H, W}, at::kFloat);
    auto in = images.accessor<uint8_t, 4>();
    auto o = out.accessor<float, 4>();
    const int p = opt.pad_crop;
    for (int64_t b = 0; b < B; ++b) {
        const int64_t i = idx[b].item<int64_t>();
        const auto d = snnkit::draw_augment(seed, i, opt);
        for (int64_t c = 0; c < C; ++c) {
            const double m = opt.mean.empty() ? 0.0 : opt.mean[opt.mean.size() == 1 ? 0 : c];
            const double s = opt.std.empty() ? 1.0 : opt.std[opt.std.size() == 1 ? 0 : c];
            for (int64_t y = 0; y < H; ++y)
                for (int64_t x = 0; x < W; ++x) {
                    const int64_t xs = d.flip ? W - 1 - x : x;
                    const int64_t sy = y + d.dy - p, sx = xs + d.dx - p;
                    const int v = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? in[i][c][sy][sx] : 0;
                    o[b][c][y][x] = static_cast<float>((v / 255.0 - m) / s);
                }
        }
    }
    return out;
}

at::Tensor make_idx(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }

} // namespace

TEST(Augment, PlainGatherAndScale) {
    at::Tensor img = random_images(10, 1, 5, 7);
    at::Tensor idx = make_idx({3, 0, 9, 3});
    at::Tensor out = make_batch(img, idx, {}, 42);
    ASSERT_EQ(out.sizes(), (std::vector<int64_t>{4, 1, 5, 7}));
    EXPECT_EQ(out.scalar_type(), at::kFloat);
    EXPECT_TRUE(out.allclose(img.index_select(0, idx).to(at::kFloat) / 255.0, 0, 1e-6));
}

TEST(Augment, NormalisationValues) {
    at::Tensor img = at::zeros({1, 3, 1, 2}, at::kByte);
    img[0][0][0][1] = 255;
    img[0][1][0][1] = 51;
    img[0][2][0][1] = 102;
    augment_options opt;
    opt.mean = {0.5f, 0.2f, 0.1f};
    opt.std = {0.5f, 0.25f, 2.0f};
    at::Tensor out = make_batch(img, make_idx({0}), opt, 0);
    EXPECT_NEAR(out[0][0][0][0].item<float>(), -1.0f, 1e-6);  // (0 - .5) / .5
    EXPECT_NEAR(out[0][0][0][1].item<float>(), 1.0f, 1e-6);   // (1 - .5) / .5
    EXPECT_NEAR(out[0][1][0][0].item<float>(), -0.8f, 1e-6);  // (0 - .2) / .25
    EXPECT_NEAR(out[0][1][0][1].item<float>(), 0.0f, 1e-6);   // (.2 - .2) / .25
    EXPECT_NEAR(out[0][2][0][1].item<float>(), 0.15f, 1e-6);  // (.4 - .1) / 2
    // One value broadcasts to every channel.
    augment_options one;
    one.mean = {0.5f};
    one.std = {0.5f};
    at::Tensor o1 = make_batch(img, make_idx({0}), one, 0);
    EXPECT_NEAR(o1[0][2][0][0].item<float>(), -1.0f, 1e-6);
}

TEST(Augment, CropAndFlipMatchReference) {
    at::Tensor img = random_images(50, 3, 8, 6);
    std::vector<int64_t> iv;
    for (int i = 0; i < 40; ++i) iv.push_back((i * 37) % 50);
    at::Tensor idx = make_idx(iv);
    for (int pad : {0, 1, 4, 9}) {  // 9 > H, W: whole rows and columns of padding
        for (bool flip : {false, true}) {
            augment_options opt;
            opt.pad_crop = pad;
            opt.hflip = flip;
            opt.mean = {0.4f, 0.5f, 0.6f};
            opt.std = {0.2f, 0.3f, 0.25f};
            at::Tensor out = make_batch(img, idx, opt, 7);
            at::Tensor ref = reference_batch(img, idx, opt, 7);
            EXPECT_TRUE(out.allclose(ref, 1e-5, 1e-5)) << "pad " << pad << " flip " << flip;
        }
    }
}

TEST(Augment, DrawsCoverTheRangeAndFlipHalf) {
    augment_options opt;
    opt.pad_crop = 4;
    opt.hflip = true;
    std::vector<int> dy_hist(9, 0), dx_hist(9, 0);
    int flips = 0;
    const int n = 9000;
    for (int i = 0; i < n; ++i) {
        auto d = snnkit::draw_augment(99, i, opt);
        ASSERT_GE(d.dy, 0);
        ASSERT_LE(d.dy, 8);
        ASSERT_GE(d.dx, 0);
        ASSERT_LE(d.dx, 8);
        ++dy_hist[d.dy];
        ++dx_hist[d.dx];
        flips += d.flip;
    }
    for (int k = 0; k < 9; ++k) {
        EXPECT_NEAR(dy_hist[k], n / 9, 150) << k;
        EXPECT_NEAR(dx_hist[k], n / 9, 150) << k;
    }
    EXPECT_NEAR(flips, n / 2, 200);
    auto none = snnkit::draw_augment(99, 5, augment_options{});
    EXPECT_EQ(none.dy, 0);
    EXPECT_EQ(none.dx, 0);
    EXPECT_FALSE(none.flip);
}

TEST(Augment, DeterministicPerSeedAndIndex) {
    at::Tensor img = random_images(64, 3, 64, 64);  // big enough for make_batch to use several tasks
    augment_options opt;
    opt.pad_crop = 3;
    opt.hflip = true;
    at::Tensor idx = at::arange(64, at::kLong);
    const int saved = at::get_num_threads();
    at::set_num_threads(1);
    at::Tensor a = make_batch(img, idx, opt, 5);
    at::set_num_threads(2);
    at::Tensor b = make_batch(img, idx, opt, 5);
    at::set_num_threads(saved);
    EXPECT_TRUE(a.equal(b));
    EXPECT_TRUE(b.allclose(reference_batch(img, idx, opt, 5), 1e-5, 1e-5));
    // A sample's draw depends on its dataset index, not its position in the batch.
    at::Tensor perm = make_idx({17, 3, 60});
    at::Tensor c = make_batch(img, perm, opt, 5);
    EXPECT_TRUE(c.equal(a.index_select(0, perm)));
    // Another seed gives another batch.
    EXPECT_FALSE(make_batch(img, idx, opt, 6).equal(a));
}

TEST(Augment, NonContiguousImages) {
    at::Tensor base = random_images(6, 2, 5, 5);
    at::Tensor img = base.transpose(2, 3);  // non-contiguous view
    augment_options opt;
    opt.pad_crop = 2;
    opt.hflip = true;
    at::Tensor idx = make_idx({5, 1, 1});
    EXPECT_TRUE(make_batch(img, idx, opt, 3).allclose(reference_batch(img.contiguous(), idx, opt, 3), 1e-6, 1e-6));
}

TEST(AugmentErrors, BadArguments) {
    at::Tensor img = random_images(4, 3, 2, 2);
    EXPECT_TRUE(one_line_with(error_of([&] { make_batch(img, make_idx({0, 4}), {}, 0); }),
                              {"make_batch", "index 4 out of range [0, 4)"}));
    EXPECT_TRUE(one_line_with(error_of([&] { make_batch(img, make_idx({-1}), {}, 0); }), {"index -1"}));
    augment_options two;
    two.mean = {0.1f, 0.2f};
    EXPECT_TRUE(one_line_with(error_of([&] { make_batch(img, make_idx({0}), two, 0); }), {"mean has 2 values", "3 channels"}));
    augment_options zero_std;
    zero_std.std = {1.0f, 0.0f, 1.0f};
    EXPECT_TRUE(one_line_with(error_of([&] { make_batch(img, make_idx({0}), zero_std, 0); }), {"std"}));
    EXPECT_TRUE(one_line_with(error_of([&] { make_batch(img.to(at::kFloat), make_idx({0}), {}, 0); }), {"uint8"}));
    EXPECT_TRUE(one_line_with(error_of([&] { make_batch(img[0], make_idx({0}), {}, 0); }), {"[N, C, H, W]"}));
    EXPECT_TRUE(one_line_with(error_of([&] { make_batch(img, at::zeros({2}, at::kFloat), {}, 0); }), {"idx"}));
}

// The --augment specs: each dataset's default, the explicit forms, the padding, and their names.
TEST(AugmentSpec, DefaultsExplicitFormsAndNames) {
    using snnkit::augment_name;
    using snnkit::dataset_augment;
    const augment_options fm = dataset_augment("fmnist");
    EXPECT_EQ(fm.pad_crop, 0);
    EXPECT_FALSE(fm.hflip);
    EXPECT_EQ(fm.mean, snnkit::dataset_preprocess("fmnist").mean); // normalisation kept
    EXPECT_EQ(augment_name(fm), "none");
    const augment_options c10 = dataset_augment("cifar10");
    EXPECT_EQ(c10.pad_crop, 4);
    EXPECT_TRUE(c10.hflip);
    EXPECT_EQ(augment_name(c10), "crop (pad 4) + flip");
    const augment_options fm_cf = dataset_augment("fmnist", "crop+flip", 2);
    EXPECT_EQ(fm_cf.pad_crop, 2);
    EXPECT_TRUE(fm_cf.hflip);
    EXPECT_EQ(fm_cf.std, snnkit::dataset_preprocess("fmnist").std);
    EXPECT_EQ(augment_name(dataset_augment("cifar10", "none")), "none");
    EXPECT_EQ(augment_name(dataset_augment("mnist", "crop", 3)), "crop (pad 3)");
    EXPECT_EQ(augment_name(dataset_augment("cifar10", "flip", 0)), "flip"); // no crop: the padding is unused
}

TEST(AugmentSpec, BadSpecsNameTheFlag) {
    EXPECT_TRUE(one_line_with(error_of([] { snnkit::dataset_augment("fmnist", "rotate"); }),
                              {"--augment rotate", "unknown augmentation", "crop+flip"}));
    EXPECT_TRUE(one_line_with(error_of([] { snnkit::dataset_augment("fmnist", "crop", 0); }), {"--crop-pad 0", "1 to 16"}));
    EXPECT_TRUE(one_line_with(error_of([] { snnkit::dataset_augment("cifar10", "default", 17); }), {"--crop-pad 17"}));
}
