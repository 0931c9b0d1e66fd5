// Spike convolutions on AMX-BF16 (spike_conv_bf16.h) against a double-precision reference and ATen's float
// convolution, and the SNN executor with them against the float executor. Skipped, with the reason, where the
// path is unavailable (no oneDNN headers at build time, or a CPU without AMX-BF16).
#include "snnkit/convert/convert.h"
#include "snnkit/core/error.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/spike_conv_bf16.h"
#include "snnkit/nn/zoo.h"
#include "spike_conv_test_util.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>

using namespace snnkit;
using namespace snnkit_test;

// The error against a double-precision convolution is that of float sums: no larger than ATen's own float
// convolution's (with a margin for the different order), far below what bfloat16 weights would give (about 4e-3
// relative). Per-channel and scalar amplitudes (V_th-valued spikes) are folded into the weights.
TEST(spike_conv_bf16, equals_the_float_convolution_up_to_float_sums) {
    SKIP_UNLESS_AVAILABLE();
    at::manual_seed(5);
    for (const geom & g : {geom{16, 16, 32, 32, 3, 3, 1, 1, 1}, geom{5, 17, 9, 7, 3, 3, 2, 1, 1},
                           geom{8, 10, 10, 10, 1, 1, 2, 0, 1}, geom{3, 20, 11, 13, 5, 3, 1, 2, 1},
                           geom{32, 64, 8, 8, 3, 3, 1, 2, 2}, geom{64, 64, 8, 8, 3, 3, 1, 1, 1},
                           // narrow outputs that keep their width: strips of images side by side (25 images: the
                           // last strip is part empty); tiny maps as one dense product (2 x 2, 2 x 2 -> 1 x 1 by
                           // stride 2, 1 x 3)
                           geom{8, 16, 4, 4, 3, 3, 1, 1, 1}, geom{8, 8, 3, 5, 5, 5, 1, 2, 1},
                           geom{128, 8, 8, 8, 3, 3, 1, 1, 1},
                           geom{16, 24, 2, 2, 3, 3, 1, 1, 1}, geom{6, 10, 2, 2, 3, 3, 2, 1, 1},
                           geom{5, 7, 1, 3, 3, 3, 1, 1, 1}, geom{4, 8, 3, 3, 1, 1, 1, 0, 1}}) {
        const int64_t n = g.w < 16 ? 25 : 3;
        for (int amp_kind : {0, 1, 2}) { // 1, a scalar V_th, per-channel V_th
            for (bool with_bias : {true, false}) {
                const at::Tensor amp = amplitude_of(amp_kind, g.c);
                const at::Tensor x = with_amplitude(at::bernoulli(at::full({n, g.c, g.h, g.w}, 0.2)), amp);
                const at::Tensor w = at::randn({g.o, g.c, g.kh, g.kw}) * 0.1;
                const at::Tensor b = with_bias ? at::randn({g.o}) : at::Tensor();
                const std::array<int64_t, 2> st{g.s, g.s}, pd{g.p, g.p}, dl{g.d, g.d};
                SCOPED_TRACE("c " + std::to_string(g.c) + " o " + std::to_string(g.o) + " k " + std::to_string(g.kh) + "x" +
                             std::to_string(g.kw) + " s " + std::to_string(g.s) + " p " + std::to_string(g.p) + " d " +
                             std::to_string(g.d) + " amplitude kind " + std::to_string(amp_kind));
                expect_float_sum_error(spike_conv2d_bf16(x, spike_conv_bf16_weight(w, amp), b, {g.kh, g.kw}, st, pd, dl), x,
                                       w, b, st, pd, dl);
            }
        }
    }
}

// Spikes average-pooled over 2 x 2 (values amplitude * q / 4): the cache folds amplitude / 4 into the weights and
// packs q; the error against a double-precision convolution is that of float sums, in the direct, strip and dense
// layouts, for amplitudes 1, scalar and per channel.
TEST(spike_conv_bf16, pooled_spikes_equal_the_float_convolution_up_to_float_sums) {
    SKIP_UNLESS_AVAILABLE();
    at::manual_seed(15);
    for (const geom & g : {geom{16, 24, 32, 32, 3, 3, 1, 1, 1}, geom{128, 16, 16, 16, 3, 3, 1, 1, 1},
                           geom{8, 16, 8, 8, 3, 3, 1, 1, 1}, geom{16, 8, 4, 4, 3, 3, 1, 1, 1}}) {
        for (int amp_kind : {0, 1, 2}) {
            const at::Tensor amp = amplitude_of(amp_kind, g.c);
            const at::Tensor x = at::avg_pool2d(with_amplitude(at::bernoulli(at::full({25, g.c, g.h, g.w}, 0.3)), amp),
                                                {2, 2}, {2, 2});
            const at::Tensor w = at::randn({g.o, g.c, g.kh, g.kw}) * 0.1;
            const at::Tensor b = at::randn({g.o});
            const std::array<int64_t, 2> st{g.s, g.s}, pd{g.p, g.p}, dl{g.d, g.d};
            SCOPED_TRACE("c " + std::to_string(g.c) + " pooled to " + std::to_string(g.h / 2) + " x " +
                         std::to_string(g.w / 2) + " amplitude kind " + std::to_string(amp_kind));
            spike_conv_bf16_cache cache;
            expect_float_sum_error(cache.conv2d(x, w, amp, b, {g.kh, g.kw}, st, pd, dl, 3, 4), x, w, b, st, pd, dl);
        }
    }
}

TEST(spike_conv_bf16, weight_parts_sum_to_the_folded_float_weight) {
    at::manual_seed(6);
    const at::Tensor w = at::randn({7, 5, 3, 3});
    const at::Tensor amp = at::rand({5}) + 0.5;
    const at::Tensor p = spike_conv_bf16_weight(w, amp);
    ASSERT_EQ(p.sizes(), (std::vector<int64_t>{7, 15, 3, 3}));
    ASSERT_EQ(p.scalar_type(), at::kBFloat16);
    const at::Tensor sum = p.slice(1, 0, 5).to(at::kDouble) + p.slice(1, 5, 10).to(at::kDouble) + p.slice(1, 10, 15).to(at::kDouble);
    const at::Tensor folded = (w * amp.view({1, 5, 1, 1})).to(at::kDouble);
    EXPECT_LE((sum - folded).abs().max().item<double>(), 1e-7 * folded.abs().max().item<double>());
    EXPECT_THROW(spike_conv_bf16_weight(w, at::ones({4})), snnkit::error);
}

TEST(spike_conv_bf16, bad_input_is_refused) {
    SKIP_UNLESS_AVAILABLE();
    const at::Tensor w = spike_conv_bf16_weight(at::randn({4, 3, 3, 3}), at::Tensor());
    EXPECT_THROW(spike_conv2d_bf16(at::zeros({2, 4, 8, 8}), w, {}, {3, 3}, {1, 1}, {1, 1}, {1, 1}), snnkit::error);
    EXPECT_THROW(spike_conv2d_bf16(at::zeros({2, 3, 8, 8}, at::kDouble), w, {}, {3, 3}, {1, 1}, {1, 1}, {1, 1}), snnkit::error);
    EXPECT_THROW(spike_conv2d_bf16(at::zeros({2, 3, 2, 2}), w, {}, {3, 3}, {1, 1}, {0, 0}, {1, 1}), snnkit::error);
}

TEST(spike_conv_bf16, executor_matches_the_float_executor) {
    SKIP_UNLESS_AVAILABLE();
    expect_executor_matches_the_float_executor("resnet20-he", 10);
    expect_executor_matches_the_float_executor("vgg16", 12);
}

// Fewer parts: the convolution with the folded weight rounded to the parts' significant bits (1 part: bfloat16; 2:
// bfloat16 plus the bfloat16 of the rest), summed in float. Its error against that rounded weight's exact
// convolution is float summation's, and against the float weight's it is what the rounding gives.
TEST(spike_conv_bf16, fewer_parts_are_the_convolution_of_the_rounded_weight) {
    SKIP_UNLESS_AVAILABLE();
    at::manual_seed(8);
    const at::Tensor amp = at::rand({24}) + 0.5;
    const at::Tensor x = at::bernoulli(at::full({4, 24, 12, 12}, 0.3)) * amp.view({1, 24, 1, 1});
    const at::Tensor s = (x != 0).to(at::kDouble);
    const at::Tensor w = at::randn({32, 24, 3, 3}) * 0.1;
    const at::Tensor b = at::randn({32});
    const at::Tensor folded = w * amp.view({1, 24, 1, 1});
    const at::Tensor r1 = folded.to(at::kBFloat16).to(at::kFloat);
    const at::Tensor r2 = r1 + (folded - r1).to(at::kBFloat16).to(at::kFloat);
    const double scale = at::conv2d(s, folded.abs().to(at::kDouble), {}, 1, 1).max().item<double>();
    for (int k : {1, 2, 3}) {
        SCOPED_TRACE("parts " + std::to_string(k));
        const at::Tensor p = spike_conv_bf16_weight(w, amp, k);
        ASSERT_EQ(p.size(1), 24 * k);
        const at::Tensor rounded = k == 1 ? r1 : k == 2 ? r2 : folded;
        const at::Tensor want = at::conv2d(s, rounded.to(at::kDouble), b.to(at::kDouble), 1, 1);
        const at::Tensor got = spike_conv2d_bf16(x, p, b, {3, 3}, {1, 1}, {1, 1}, {1, 1}).to(at::kDouble);
        EXPECT_LE((got - want).abs().max().item<double>(), 1e-6 * scale);
        // the rounding itself is visible against the float weight for 1 and 2 parts (bfloat16: 8 bits)
        const double off = (got - at::conv2d(s, folded.to(at::kDouble), b.to(at::kDouble), 1, 1)).abs().max().item<double>();
        if (k == 1) {
            EXPECT_GT(off, 1e-4 * scale);
        } else if (k == 2) {
            EXPECT_LT(off, 1e-4 * scale);
        }
    }
    EXPECT_THROW(spike_conv_bf16_weight(w, amp, 0), snnkit::error);
    EXPECT_THROW(spike_conv_bf16_weight(w, amp, 4), snnkit::error);
}

// The cache prepares a layer once and gives the uncached call's bits; a weight or amplitude changed in place is
// prepared again (its version moved), and a new input shape gets its own primitive from the same parts.
TEST(spike_conv_bf16, cache_prepares_once_and_follows_in_place_changes) {
    SKIP_UNLESS_AVAILABLE();
    at::manual_seed(9);
    at::Tensor amp = at::rand({16}) + 0.5;
    at::Tensor w = at::randn({20, 16, 3, 3}) * 0.1;
    const at::Tensor b = at::randn({20});
    const auto x_of = [&](int64_t n, int64_t h) {
        return at::bernoulli(at::full({n, 16, h, h}, 0.25)) * amp.view({1, 16, 1, 1});
    };
    const auto direct = [&](const at::Tensor & x) {
        return spike_conv2d_bf16(x, spike_conv_bf16_weight(w, amp), b, {3, 3}, {1, 1}, {1, 1}, {1, 1});
    };
    spike_conv_bf16_cache cache;
    const at::Tensor x = x_of(3, 10);
    for (int rep = 0; rep < 3; ++rep) {
        EXPECT_TRUE(at::equal(cache.conv2d(x, w, amp, b, {3, 3}, {1, 1}, {1, 1}, {1, 1}), direct(x)));
    }
    EXPECT_EQ(cache.layers(), 1u);
    EXPECT_EQ(cache.preparations(), 1);
    const at::Tensor x2 = x_of(5, 7); // another shape: same parts, a primitive of its own
    EXPECT_TRUE(at::equal(cache.conv2d(x2, w, amp, b, {3, 3}, {1, 1}, {1, 1}, {1, 1}), direct(x2)));
    EXPECT_EQ(cache.preparations(), 1);
    w.mul_(-1.5); // in place: the cached parts are stale
    const at::Tensor after = cache.conv2d(x, w, amp, b, {3, 3}, {1, 1}, {1, 1}, {1, 1});
    EXPECT_TRUE(at::equal(after, direct(x)));
    EXPECT_EQ(cache.preparations(), 2);
    amp.add_(0.25); // the amplitude folded into the weights, in place
    const at::Tensor x3 = x_of(3, 10);
    EXPECT_TRUE(at::equal(cache.conv2d(x3, w, amp, b, {3, 3}, {1, 1}, {1, 1}, {1, 1}), direct(x3)));
    EXPECT_EQ(cache.preparations(), 3);
    const at::Tensor w_other = w.clone(); // same values, another tensor: its own entry
    EXPECT_TRUE(at::equal(cache.conv2d(x3, w_other, amp, b, {3, 3}, {1, 1}, {1, 1}, {1, 1}), direct(x3)));
    EXPECT_EQ(cache.layers(), 2u);
    EXPECT_EQ(cache.preparations(), 4);
}

// The executor with a cache: the same outputs as without one, every AMX layer prepared once over several runs.
TEST(spike_conv_bf16, executor_with_a_cache_prepares_each_layer_once) {
    SKIP_UNLESS_AVAILABLE();
    at::manual_seed(10);
    at::NoGradGuard ng;
    const at::Tensor x = at::randn({4, 3, 32, 32});
    const graph snn = converted_zoo_net("vgg16", x, 4);
    snn_options o;
    o.T = 4;
    o.spike_bf16 = true;
    const at::Tensor want = snn_forward(snn, x, o).out;
    spike_conv_bf16_cache cache;
    o.spike_bf16_cache = &cache;
    for (int rep = 0; rep < 3; ++rep) {
        EXPECT_TRUE(at::equal(snn_forward(snn, x, o).out, want));
    }
    // every convolution fed by spikes (12 of VGG-16's 13; the first reads the image): 8 straight from a spike node,
    // 4 through a 2 x 2 average pool (values in quarters of the amplitude)
    EXPECT_EQ(cache.layers(), 12u);
    EXPECT_EQ(cache.preparations(), static_cast<int64_t>(cache.layers()));
}

// The rule that picks the AMX path (oneDNN's AMX kernel tiles one output row at a time): wide outputs, narrower
// ones that keep their width (run on strips of images side by side), tiny maps (a dense product).
TEST(spike_conv_bf16, wins_on_wide_outputs_strips_or_dense) {
    const at::Tensor x8 = at::zeros({1, 4, 8, 8}), x4 = at::zeros({1, 4, 4, 4});
    EXPECT_TRUE(spike_conv_bf16_wins(x8, {3, 3}, {1, 1}, {1, 1}, {1, 1}));
    EXPECT_FALSE(spike_conv_bf16_wins(x8, {3, 3}, {2, 2}, {1, 1}, {1, 1})); // 4 wide, stride 2: no strip
    EXPECT_TRUE(spike_conv_bf16_wins(x4, {3, 3}, {1, 1}, {1, 1}, {1, 1}));  // 4 wide, same width: strips
    EXPECT_FALSE(spike_conv_bf16_wins(x4, {3, 3}, {1, 1}, {0, 0}, {1, 1})); // 2 wide, shrinks: no strip
    EXPECT_FALSE(spike_conv_bf16_wins(x4, {3, 3}, {1, 1}, {1, 1}, {2, 2})); // dilated
    const at::Tensor x2 = at::zeros({1, 4, 2, 2});
    EXPECT_TRUE(spike_conv_bf16_wins(x2, {3, 3}, {1, 1}, {1, 1}, {1, 1}));  // 2 x 2: one dense product
    EXPECT_FALSE(spike_conv_bf16_wins(x2, {3, 3}, {1, 1}, {0, 0}, {1, 1})); // no output
    EXPECT_TRUE(spike_conv_bf16_wins(at::zeros({1, 4, 2, 16}), {1, 1}, {1, 1}, {0, 0}, {1, 1}));
    EXPECT_TRUE(spike_conv_bf16_strip_fits(5, 1, 2, 1));
    EXPECT_FALSE(spike_conv_bf16_strip_fits(3, 1, 2, 1));
}

// The packing, from a contiguous and from a channels-last input, by the AVX-512 rows and by the plain loop, equals
// the indicator [x != 0] laid out [N, H, W, copies*C] (odd sizes: partial 16-lanes in both directions).
TEST(spike_conv_bf16, packing_equals_the_indicator_in_every_layout) {
    at::manual_seed(11);
    const at::Tensor x = at::bernoulli(at::full({3, 21, 5, 19}, 0.3)) * 0.75;
    const at::Tensor x_cl = x.contiguous(at::MemoryFormat::ChannelsLast);
    ASSERT_FALSE(x_cl.is_contiguous());
    for (int copies : {1, 3}) {
        const at::Tensor ind = (x != 0).to(at::kFloat).permute({0, 2, 3, 1});
        const at::Tensor want = at::cat(std::vector<at::Tensor>(copies, ind), 3);
        for (bool portable : {false, true}) {
            for (const at::Tensor * in : {&x, &x_cl}) {
                const at::Tensor got = spike_conv_bf16_pack(*in, copies, portable);
                EXPECT_TRUE(at::equal(got.to(at::kFloat), want))
                    << "copies " << copies << (portable ? " portable" : " avx512") << (in == &x ? " nchw" : " nhwc");
            }
        }
    }
}

// Behind an AMX convolution the spike node runs on its channels-last output as it is ([T, N*H*W, C] for the
// kernel): with per-channel V_th and a per-neuron v(0) (calibrated nets) it gives the spikes and final potentials
// of the same node on the contiguous input, bit for bit.
TEST(spike_conv_bf16, spike_node_on_a_channels_last_input_equals_the_contiguous_run) {
    at::manual_seed(12);
    at::NoGradGuard ng;
    const int64_t T = 3, N = 2, C = 5, H = 4, W = 6;
    graph g;
    g.input_shape = {C, H, W};
    node in;
    in.op = op_kind::input;
    in.name = "x";
    g.nodes.push_back(in);
    node sp;
    sp.op = op_kind::spike;
    sp.name = "sp";
    sp.inputs = {0};
    sp.attrs.neuron.alpha = 1.0;
    sp.buffers["v_th"] = at::rand({C}) + 0.5;
    sp.buffers["v0"] = at::rand({C, H, W}) * 0.5;
    g.nodes.push_back(sp);
    const at::Tensor x = at::randn({T, N, C, H, W});
    snn_options o;
    o.T = T;
    o.chunk = -1; // the whole batch at once: groups (one per thread) come back joined, contiguous
    const snn_output want = snn_forward(g, x, o);
    const at::Tensor x_cl = x.flatten(0, 1).contiguous(at::MemoryFormat::ChannelsLast).view({T, N, C, H, W});
    ASSERT_FALSE(x_cl.is_contiguous());
    const snn_output got = snn_forward(g, x_cl, o);
    EXPECT_FALSE(got.out.is_contiguous()) << "the channels-last path did not run";
    EXPECT_TRUE(at::equal(got.out, want.out));
    EXPECT_TRUE(at::equal(got.v[1], want.v[1]));
}
