// The int8 scheme of the AMX spike convolution (spike_conv_int8.h): the weight parts against their closed form,
// the packing, the convolution against a double-precision reference and ATen's float convolution in every layout,
// and the SNN executor with it against the float executor. Skipped, with the reason, where AMX is unavailable.
#include "snnkit/core/error.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/spike_conv_int8.h"
#include "spike_conv_test_util.h"

#include <ATen/core/grad_mode.h>
#include <cmath>
#include <map>
#include <gtest/gtest.h>

using namespace snnkit;
using namespace snnkit_test;

// Per output channel: s_o = max |a W_o| / 127, the parts in [-127, 127], and s_o (q0 + q1 / 254 + q2 / 254^2) within
// s_o / (2 * 254^2) of the folded weight (computed in double), plus the rounding of the three scales to float
// (2^-24 of each part's share, at most 2^-23 of the channel's largest weight in all); an all-zero channel has scale
// 1 and zero parts.
TEST(spike_conv_int8, weight_parts_rebuild_the_folded_weight) {
    at::manual_seed(2);
    for (int amp_kind : {0, 1, 2}) {
        const at::Tensor amp = amplitude_of(amp_kind, 6);
        at::Tensor w = at::randn({5, 6, 3, 3}, at::kFloat) * 0.2;
        w[3].zero_();
        const auto [parts, scales] = spike_conv_int8_weight(w, amp);
        ASSERT_EQ(parts.scalar_type(), at::kChar);
        ASSERT_EQ(parts.sizes(), (std::vector<int64_t>{15, 6, 3, 3}));
        ASSERT_EQ(scales.sizes(), (std::vector<int64_t>{15}));
        at::Tensor folded = w.to(at::kDouble);
        if (amp.defined()) {
            folded = folded * (amp.dim() == 0 ? amp.to(at::kDouble) : amp.to(at::kDouble).view({1, 6, 1, 1}));
        }
        const at::Tensor s0 = folded.abs().amax({1, 2, 3}) / 127.0;
        const at::Tensor p = parts.to(at::kDouble).view({3, 5, 6, 3, 3});
        const at::Tensor sc = scales.to(at::kDouble).view({3, 5, 1, 1, 1});
        EXPECT_LE(parts.abs().max().item<int>(), 127);
        EXPECT_TRUE(at::allclose(sc[0].flatten(), at::where(s0 > 0, s0, at::ones_like(s0)), 1e-7, 0));
        EXPECT_TRUE(at::allclose(sc[1] * 254.0, sc[0], 2e-7, 0));
        EXPECT_TRUE(at::allclose(sc[2] * 254.0, sc[1], 2e-7, 0));
        const at::Tensor rebuilt = (p * sc).sum(0);
        const at::Tensor bound = s0.view({5, 1, 1, 1}) * (1 / (2 * 254.0 * 254.0) + 127 * std::ldexp(1.0, -23));
        EXPECT_TRUE((rebuilt - folded).abs().le(bound + 1e-30).all().item<bool>()) << amp_kind;
        EXPECT_EQ(p.select(1, 3).abs().sum().item<double>(), 0.0);
        EXPECT_EQ(scales[3].item<float>(), 1.0f);
    }
    at::Tensor bad = at::randn({2, 3, 3, 3});
    bad[1][0][0][0] = std::nan("");
    EXPECT_THROW(spike_conv_int8_weight(bad, {}), error);
    EXPECT_THROW(spike_conv_int8_weight(at::randn({2, 3, 3, 3}), at::ones({4})), error);
    EXPECT_THROW(spike_conv_int8_weight(at::randn({2, 3}), {}), error);
}

// uint8 packing: the indicator, or the level q of pooled spikes, channels last, in strips of images side by side
// with zero gaps and zero images filling the last strip; from contiguous and channels-last inputs.
TEST(spike_conv_int8, packing_is_the_indicator_or_the_level) {
    at::manual_seed(4);
    const at::Tensor s = at::bernoulli(at::full({5, 3, 4, 6}, 0.4));
    for (const at::Tensor & x : {s * 0.8, (s * 0.8).contiguous(at::MemoryFormat::ChannelsLast)}) {
        const at::Tensor want = s.permute({0, 2, 3, 1}).to(at::kByte);
        EXPECT_TRUE(at::equal(spike_pack_u8(x, 1, 0, 1, {}), want));
        const at::Tensor strips = spike_pack_u8(x, 2, 1, 1, {}); // rows of 2 images, 1 zero column after each
        ASSERT_EQ(strips.sizes(), (std::vector<int64_t>{3, 4, 14, 3}));
        for (int64_t n = 0; n < 6; ++n) {
            const at::Tensor img = strips[n / 2].narrow(1, (n % 2) * 7, 6);
            EXPECT_TRUE(at::equal(img, n < 5 ? want[n] : at::zeros_like(want[0]))) << n;
            EXPECT_EQ(strips[n / 2].narrow(1, (n % 2) * 7 + 6, 1).sum().item<int64_t>(), 0) << n;
        }
    }
    const at::Tensor pooled = at::avg_pool2d(s * 0.8, {2, 2}, {2, 2}); // 0.8 * q / 4, q = 0..4
    const at::Tensor q = at::round(pooled * 5.0).to(at::kByte).permute({0, 2, 3, 1});
    EXPECT_TRUE(at::equal(spike_pack_u8(pooled, 1, 0, 4, at::scalar_tensor(5.0)), q));
    EXPECT_THROW(spike_pack_u8(pooled, 1, 0, 256, at::scalar_tensor(5.0)), error);
    EXPECT_THROW(spike_pack_u8(pooled, 1, 0, 4, {}), error);
}

// The error against a double-precision convolution is within what float sums give (ATen's own float convolution's,
// with a margin, or 2e-7 of the scale of the sums): direct, strip and dense layouts, amplitudes 1, scalar and per
// channel, with and without bias, spikes and 2 x 2 average-pooled spikes.
TEST(spike_conv_int8, equals_the_float_convolution_up_to_float_sums) {
    SKIP_UNLESS_AVAILABLE();
    at::manual_seed(7);
    for (const geom & g : {geom{16, 16, 32, 32, 3, 3, 1, 1, 1}, geom{5, 17, 9, 7, 3, 3, 2, 1, 1},
                           geom{8, 10, 10, 10, 1, 1, 2, 0, 1}, geom{3, 20, 11, 13, 5, 3, 1, 2, 1},
                           geom{32, 64, 8, 8, 3, 3, 1, 2, 2}, geom{64, 64, 8, 8, 3, 3, 1, 1, 1},
                           geom{8, 16, 4, 4, 3, 3, 1, 1, 1}, geom{128, 8, 8, 8, 3, 3, 1, 1, 1},
                           geom{16, 24, 2, 2, 3, 3, 1, 1, 1}, geom{6, 10, 2, 2, 3, 3, 2, 1, 1}}) {
        const int64_t n = g.w < 16 ? 25 : 3;
        for (int amp_kind : {0, 1, 2}) {
            for (bool pooled : {false, true}) {
                if (pooled && (g.h < 4 || g.w < 4)) {
                    continue;
                }
                const at::Tensor amp = amplitude_of(amp_kind, g.c);
                at::Tensor x = with_amplitude(at::bernoulli(at::full({n, g.c, pooled ? 2 * g.h : g.h, pooled ? 2 * g.w : g.w}, 0.2)), amp);
                if (pooled) {
                    x = at::avg_pool2d(x, {2, 2}, {2, 2});
                }
                const at::Tensor w = at::randn({g.o, g.c, g.kh, g.kw}) * 0.1;
                const at::Tensor b = amp_kind == 1 ? at::Tensor() : at::randn({g.o});
                const std::array<int64_t, 2> st{g.s, g.s}, pd{g.p, g.p}, dl{g.d, g.d};
                SCOPED_TRACE("c " + std::to_string(g.c) + " o " + std::to_string(g.o) + " " + std::to_string(g.h) +
                             "x" + std::to_string(g.w) + " k " + std::to_string(g.kh) + "x" + std::to_string(g.kw) +
                             " s " + std::to_string(g.s) + " amplitude kind " + std::to_string(amp_kind) +
                             (pooled ? " pooled" : ""));
                spike_conv_bf16_cache cache;
                expect_float_sum_error(cache.conv2d(x, w, amp, b, {g.kh, g.kw}, st, pd, dl, 3, pooled ? 4 : 1, true), x,
                                       w, b, st, pd, dl);
            }
        }
    }
    spike_conv_bf16_cache cache;
    const at::Tensor x = at::bernoulli(at::full({2, 4, 8, 8}, 0.3));
    EXPECT_THROW(cache.conv2d(x, at::randn({4, 4, 3, 3}), {}, {}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 3, 256, true), error);
}

// The SNN executor with the int8 scheme against the float executor, layer by layer, as the bfloat16 scheme is held
// (tests/nn/spike_conv_test_util.h). The executor takes it on layers of 128 or more input channels
// (spike_int8_applies): VGG-16's direct, strip, dense and pooled ones, none of ResNet-20's (16 - 64 channels, on
// bfloat16: every layer equals the bfloat16 run's bit for bit); on VGG-16 exactly those layers differ from it.
TEST(spike_conv_int8, executor_matches_the_float_executor) {
    SKIP_UNLESS_AVAILABLE();
    EXPECT_FALSE(spike_int8_applies(64, 1));
    EXPECT_TRUE(spike_int8_applies(128, 4));
    EXPECT_FALSE(spike_int8_applies(512, 256));
    expect_executor_matches_the_float_executor("resnet20-he", 10, true);
    expect_executor_matches_the_float_executor("vgg16", 12, true);
    for (const std::string arch : {"resnet20-he", "vgg16"}) {
        at::manual_seed(3);
        const at::Tensor x = at::randn({4, 3, 32, 32});
        graph snn = converted_zoo_net(arch, x, 4);
        for (node & n : snn.nodes) { // a random net's thresholds leave the deep layers silent: lower them
            if (n.op == op_kind::spike) {
                n.buffers.at("v_th").mul_(0.25);
            }
        }
        at::NoGradGuard ng;
        snn_options o;
        o.T = 4;
        o.spike_bf16 = true;
        std::map<int, at::Tensor> runs[2]; // the spike convolutions' outputs: bfloat16, int8
        int r = 0;
        o.observer = [&](int i, const node & n, const at::Tensor & out) {
            if (n.op == op_kind::conv2d && spike_bf16_source(snn, n, nullptr) >= 0) {
                runs[r][i] = out.clone();
            }
        };
        snn_forward(snn, x, o);
        r = 1;
        o.spike_int8 = true;
        snn_forward(snn, x, o);
        int differ = 0, wide = 0;
        for (const auto & [i, a] : runs[0]) {
            differ += !at::equal(a, runs[1].at(i));
            wide += snn.nodes[i].attrs.in >= spike_int8_min_channels;
        }
        EXPECT_EQ(differ, arch == "vgg16" ? wide : 0) << arch; // exactly the wide layers ran on int8
        EXPECT_GT(arch == "vgg16" ? wide : 1, 0);
    }
}
