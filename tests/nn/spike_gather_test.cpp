// The gathered spike convolution (spike_gather.h) against a double-precision convolution, its bit packing and
// weight rows against their closed forms, the AVX-512 kernels against the plain loops, and the SNN executor with
// gathered layers against the dense executor.
#include "snnkit/nn/spike_gather.h"

#include "snnkit/core/error.h"
#include "spike_conv_test_util.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

using namespace snnkit;
using snnkit_test::amplitude_of;
using snnkit_test::geom;
using snnkit_test::with_amplitude;

namespace {

// Geometries: channel counts that do not fill a byte (3, 5) or a 16-bit chunk (24, 40), outputs that do not fill a
// vector (5, 17) or fill blocks of 1, 2, 4 and 8 vectors (16, 32, 64, 256), strides, paddings and kernels of
// ResNet's and VGG's layers and others. Weight rows over 768 KiB go by channel blocks: 96 -> 256 (blocks of 80
// and 16 channels) and 48 -> 500 (blocks of 32 and 16; outputs that end inside a vector).
std::vector<geom> geometries() {
    return {geom{16, 16, 12, 12, 3, 3, 1, 1, 1}, geom{3, 17, 9, 7, 3, 3, 2, 1, 1},  geom{24, 32, 8, 8, 1, 1, 2, 0, 1},
            geom{5, 5, 11, 13, 5, 3, 1, 2, 1},   geom{40, 64, 6, 6, 3, 3, 1, 0, 1},  geom{96, 256, 4, 4, 3, 3, 1, 1, 1},
            geom{130, 48, 2, 2, 3, 3, 1, 1, 1},  geom{8, 16, 7, 5, 3, 5, 2, 2, 1},   geom{48, 500, 3, 3, 3, 3, 2, 1, 1}};
}

at::Tensor spikes(at::IntArrayRef shape, double p) { return at::bernoulli(at::full(shape, p)); }

} // namespace

TEST(spike_gather, rows_are_the_folded_weights_by_kernel_row_position_and_channel) {
    at::manual_seed(1);
    const at::Tensor w = at::randn({5, 3, 2, 3});
    const at::Tensor amp = at::rand({3}) + 0.5;
    const at::Tensor r = spike_gather_rows(w, amp); // [kh, kw * Cp, Op] = [2, 3 * 8, 16]
    ASSERT_EQ(r.sizes(), (std::vector<int64_t>{2, 24, 16}));
    for (int64_t i = 0; i < 2; ++i) {
        for (int64_t j = 0; j < 3; ++j) {
            for (int64_t c = 0; c < 8; ++c) {
                for (int64_t o = 0; o < 16; ++o) {
                    const float want = c < 3 && o < 5 ? w[o][c][i][j].item<float>() * amp[c].item<float>() : 0.0f;
                    ASSERT_EQ(r[i][j * 8 + c][o].item<float>(), want) << i << " " << j << " " << c << " " << o;
                }
            }
        }
    }
    EXPECT_THROW(spike_gather_rows(at::randn({5, 3}), {}), snnkit::error);
    EXPECT_THROW(spike_gather_rows(w, at::ones({4})), snnkit::error); // 4 amplitudes for 3 channels
}

TEST(spike_gather, packing_sets_one_bit_per_nonzero_value_and_zeros_the_padding) {
    at::manual_seed(2);
    for (int64_t c : {1, 5, 8, 16, 17, 40}) {
        const at::Tensor x = spikes({2, c, 3, 4}, 0.4) * 0.75; // amplitude 0.75: any nonzero value is a spike
        for (bool portable : {true, false}) {
            const spike_bits b = spike_gather_pack(x, 1, 2, portable);
            const int64_t cb = (c + 7) / 8;
            ASSERT_EQ(b.bits.sizes(), (std::vector<int64_t>{2, 3, 1 + 4 + 2, cb}));
            EXPECT_EQ(b.ones, x.ne(0).sum().item<int64_t>());
            const at::Tensor bits = b.bits.contiguous();
            for (int64_t n = 0; n < 2; ++n) {
                for (int64_t h = 0; h < 3; ++h) {
                    for (int64_t w = 0; w < 7; ++w) {
                        for (int64_t k = 0; k < cb * 8; ++k) {
                            const int bit = (bits[n][h][w][k / 8].item<uint8_t>() >> (k % 8)) & 1;
                            const bool inside = w >= 1 && w < 5 && k < c;
                            const int want = inside ? (x[n][k][h][w - 1].item<float>() != 0.0f) : 0;
                            ASSERT_EQ(bit, want) << "c " << c << " n " << n << " h " << h << " w " << w << " k " << k;
                        }
                    }
                }
            }
        }
    }
    EXPECT_THROW(spike_gather_pack(at::ones({2, 3, 4}), 0, 0), snnkit::error);
    EXPECT_THROW(spike_gather_pack(at::ones({1, 2, 3, 4}, at::kDouble), 0, 0), snnkit::error);
}

TEST(spike_gather, conv2d_equals_the_double_convolution_up_to_float_sums) {
    at::manual_seed(3);
    for (const geom & g : geometries()) {
        for (int amp_kind : {0, 1, 2}) {
            for (double rate : {0.0, 0.1, 0.5, 1.0}) {
                for (bool with_bias : {true, false}) {
                    for (bool channels_last : {true, false}) {
                        const at::Tensor amp = amplitude_of(amp_kind, g.c);
                        at::Tensor x = with_amplitude(spikes({3, g.c, g.h, g.w}, rate), amp);
                        if (channels_last) {
                            x = x.contiguous(at::MemoryFormat::ChannelsLast);
                        }
                        const at::Tensor w = at::randn({g.o, g.c, g.kh, g.kw});
                        const at::Tensor b = with_bias ? at::randn({g.o}) : at::Tensor();
                        SCOPED_TRACE("c " + std::to_string(g.c) + " o " + std::to_string(g.o) + " k " +
                                     std::to_string(g.kh) + "x" + std::to_string(g.kw) + " s " + std::to_string(g.s) +
                                     " p " + std::to_string(g.p) + " amp " + std::to_string(amp_kind) + " rate " +
                                     std::to_string(rate));
                        const at::Tensor got =
                            spike_gather_conv2d(x, w, amp, b, {g.kh, g.kw}, {g.s, g.s}, {g.p, g.p});
                        EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast) || g.o == 1);
                        // the folded weights against x's values: the same products
                        snnkit_test::expect_float_sum_error(got, x, w, b, {g.s, g.s}, {g.p, g.p}, {1, 1});
                    }
                }
            }
        }
    }
}

TEST(spike_gather, vector_kernels_equal_the_plain_loops_bit_for_bit) {
    at::manual_seed(4);
    for (const geom & g : geometries()) {
        const at::Tensor amp = amplitude_of(2, g.c);
        const at::Tensor x = with_amplitude(spikes({2, g.c, g.h, g.w}, 0.3), amp);
        const at::Tensor w = at::randn({g.o, g.c, g.kh, g.kw}), b = at::randn({g.o});
        const at::Tensor v = spike_gather_conv2d(x, w, amp, b, {g.kh, g.kw}, {g.s, g.s}, {g.p, g.p}, false);
        const at::Tensor p = spike_gather_conv2d(x, w, amp, b, {g.kh, g.kw}, {g.s, g.s}, {g.p, g.p}, true);
        EXPECT_TRUE(at::equal(v, p)) << "c " << g.c << " o " << g.o << ": max " << (v - p).abs().max().item<double>();
        const spike_bits bv = spike_gather_pack(x, g.p, 1, false), bp = spike_gather_pack(x, g.p, 1, true);
        EXPECT_TRUE(at::equal(bv.bits, bp.bits));
        EXPECT_EQ(bv.ones, bp.ones);
    }
}

TEST(spike_gather, refuses_packings_and_rows_that_do_not_fit_the_convolution) {
    at::manual_seed(5);
    const at::Tensor x = spikes({1, 8, 6, 6}, 0.5);
    const at::Tensor w = at::randn({4, 8, 3, 3});
    const at::Tensor rows = spike_gather_rows(w, {});
    const spike_bits no_pad = spike_gather_pack(x, 0, 0);
    EXPECT_THROW(spike_gather_conv2d(no_pad, 6, 6, rows, 4, {}, {3, 3}, {1, 1}, {1, 1}), snnkit::error);
    const spike_bits ok = spike_gather_pack(x, 1, 1);
    EXPECT_NO_THROW(spike_gather_conv2d(ok, 6, 6, rows, 4, {}, {3, 3}, {1, 1}, {1, 1}));
    EXPECT_THROW(spike_gather_conv2d(ok, 6, 6, rows, 17, {}, {3, 3}, {1, 1}, {1, 1}), snnkit::error);   // O
    EXPECT_THROW(spike_gather_conv2d(ok, 6, 6, rows, 4, {}, {1, 1}, {1, 1}, {1, 1}), snnkit::error);    // kernel
    EXPECT_THROW(spike_gather_conv2d(ok, 6, 6, rows, 4, at::ones({3}), {3, 3}, {1, 1}, {1, 1}), snnkit::error);
    EXPECT_THROW(spike_gather_conv2d(ok, 7, 6, rows, 4, {}, {3, 3}, {1, 1}, {1, 1}), snnkit::error);    // H
    EXPECT_THROW(spike_gather_conv2d(x, at::randn({4, 7, 3, 3}), {}, {}, {3, 3}, {1, 1}, {1, 1}), snnkit::error);
}

TEST(spike_gather, cache_makes_rows_once_and_again_after_an_in_place_change) {
    at::manual_seed(6);
    at::Tensor w = at::randn({4, 8, 3, 3});
    spike_gather_cache cache;
    const at::Tensor r1 = cache.rows(w, {});
    const at::Tensor r2 = cache.rows(w, {});
    EXPECT_EQ(r1.data_ptr(), r2.data_ptr());
    EXPECT_EQ(cache.preparations(), 1);
    w.mul_(2.0);
    const at::Tensor r3 = cache.rows(w, {});
    EXPECT_EQ(cache.preparations(), 2);
    EXPECT_TRUE(at::allclose(r3, spike_gather_rows(w, {})));
    const at::Tensor other = at::randn({4, 8, 3, 3});
    cache.rows(other, at::scalar_tensor(0.5));
    EXPECT_EQ(cache.preparations(), 3);
}

// The executor with sparse layers: convolutions of spikes gathered (the cache shows they ran), the rest as the
// dense executor; outputs equal up to float sums, checked layer by layer through the final potentials, on
// converted ResNet-20 and VGG-16 nets with their thresholds from a random batch (rates of a few per cent at T = 8).
TEST(spike_gather, snn_executor_with_gathered_layers_equals_the_dense_executor) {
    at::manual_seed(7);
    at::NoGradGuard ng;
    for (const char * arch : {"resnet20-he", "vgg16"}) {
        const at::Tensor x = at::randn({4, 3, 32, 32});
        const graph snn = snnkit_test::converted_zoo_net(arch, x, 8);
        snn_options dense;
        dense.T = 8;
        snn_options sparse = dense;
        sparse.sparse = true;
        spike_gather_cache cache;
        sparse.gather_cache = &cache;
        const snn_output a = snn_forward(snn, x, dense);
        const snn_output b = snn_forward(snn, x, sparse);
        EXPECT_GT(cache.preparations(), 0) << arch << ": no layer was gathered";
        // spikes near the threshold may flip with the order of float sums: nearly every image agrees closely
        EXPECT_GE(snnkit_test::images_agreeing(b.out, a.out, 1e-3, 0.99), 0.75) << arch;
        EXPECT_LT((b.out - a.out).abs().mean().item<double>(), 1e-2) << arch;
    }
}
