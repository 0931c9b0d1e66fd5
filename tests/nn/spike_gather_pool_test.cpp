// Pooled spikes packed for the gathered convolution (spike_gather_pool.h): the packing against its closed form, the
// AVX-512 packing against the plain loop, the convolution of the packed windows against a double-precision
// convolution of at::avg_pool2d's map, and the SNN executor that leaves a pooling to its gathered reader against
// the dense executor.
#include "snnkit/nn/spike_gather_pool.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/graph.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/spike_sparse.h"
#include "spike_conv_test_util.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

using namespace snnkit;
using snnkit_test::amplitude_of;
using snnkit_test::with_amplitude;

namespace {

at::Tensor spikes(at::IntArrayRef shape, double p) { return at::bernoulli(at::full(shape, p)); }

// bit k of a packed position (bytes [Cb])
bool bit_of(const at::Tensor & pos, int64_t k) {
    return ((pos[k / 8].item<uint8_t>() >> (k % 8)) & 1) != 0;
}

} // namespace

// Every bit c g + dy kw + dx of every pooled position is the spike of channel c at (ph kh + dy, pw kw + dx); the
// padding columns are zero; `ones` counts the spikes inside whole windows (the odd last row and column are left
// out, as at::avg_pool2d leaves them). Windows of 1 to 4 positions take the vector packing, larger the plain loop:
// both, and both ways, equal.
TEST(spike_gather_pool, pack_is_the_windows_spikes_bit_by_bit) {
    at::manual_seed(3);
    const std::array<int64_t, 2> windows[] = {{2, 2}, {1, 2}, {2, 1}, {3, 3}, {1, 1}};
    for (const auto & win : windows) {
        for (int64_t C : {3, 16, 20, 40}) {
            const at::Tensor x =
                with_amplitude(spikes({2, C, 7, 9}, 0.3), amplitude_of(2, C)).contiguous(at::MemoryFormat::ChannelsLast);
            const int64_t PH = 7 / win[0], PW = 9 / win[1], g = win[0] * win[1];
            const spike_bits v = spike_gather_pool_pack(x, win, 1, 2, false);
            const spike_bits p = spike_gather_pool_pack(x.contiguous(), win, 1, 2, true);
            ASSERT_TRUE(at::equal(v.bits, p.bits)) << win[0] << "x" << win[1] << " C " << C;
            ASSERT_EQ(v.ones, p.ones);
            ASSERT_EQ(v.group, g);
            ASSERT_EQ(v.bits.sizes(), (std::vector<int64_t>{2, PH, 1 + PW + 2, (C * g + 7) / 8}));
            const at::Tensor whole = x.narrow(2, 0, PH * win[0]).narrow(3, 0, PW * win[1]);
            EXPECT_EQ(v.ones, whole.ne(0).sum().item<int64_t>());
            for (int64_t n = 0; n < 2; ++n) {
                for (int64_t ph = 0; ph < PH; ++ph) {
                    for (int64_t col = 0; col < 1 + PW + 2; ++col) {
                        const at::Tensor pos = v.bits[n][ph][col];
                        for (int64_t k = 0; k < pos.size(0) * 8; ++k) {
                            const int64_t pw = col - 1, c = k / g, s = k % g;
                            const bool want = pw >= 0 && pw < PW && c < C &&
                                              x[n][c][ph * win[0] + s / win[1]][pw * win[1] + s % win[1]].item<float>() != 0;
                            ASSERT_EQ(bit_of(pos, k), want) << "n " << n << " ph " << ph << " col " << col << " bit " << k;
                        }
                    }
                }
            }
        }
    }
}

// The convolution of the packed windows with rows scaled by 1 / g equals the convolution of the average-pooled map,
// to the error of float sums, for every geometry, amplitude kind and rate; the AVX-512 kernels bit-equal the plain
// loops. The 200 -> 300 layer's rows pass 768 KiB: it goes by blocks of input bits (spike_gather.cpp).
TEST(spike_gather_pool, conv2d_equals_the_convolution_of_the_pooled_map) {
    at::manual_seed(4);
    struct pool_geom {
        int64_t c, o, h, w, k, s, p;
        std::array<int64_t, 2> win;
    };
    const pool_geom geoms[] = {{16, 32, 12, 12, 3, 1, 1, {2, 2}}, {3, 17, 9, 11, 3, 1, 1, {2, 2}},
                               {20, 48, 8, 8, 1, 1, 0, {2, 2}},   {24, 16, 10, 8, 3, 2, 1, {2, 2}},
                               {5, 5, 9, 9, 3, 1, 1, {3, 3}},     {40, 64, 4, 8, 3, 1, 1, {1, 2}},
                               {200, 300, 4, 4, 3, 1, 1, {2, 2}}};
    for (const pool_geom & g : geoms) {
        for (int amp_kind : {0, 1, 2}) {
            for (double rate : {0.0, 0.05, 0.5, 1.0}) {
                const at::Tensor amp = amplitude_of(amp_kind, g.c);
                const at::Tensor x =
                    with_amplitude(spikes({2, g.c, g.h, g.w}, rate), amp).contiguous(at::MemoryFormat::ChannelsLast);
                const at::Tensor w = at::randn({g.o, g.c, g.k, g.k}), b = at::randn({g.o});
                const at::Tensor pooled = at::avg_pool2d(x, g.win, g.win);
                const int64_t PW = pooled.size(3), group = g.win[0] * g.win[1];
                const int64_t right = spike_gather_pad_right(PW, g.k, g.s, g.p);
                const at::Tensor rows = spike_gather_rows(w, amp, 1.0 / static_cast<double>(group));
                const spike_bits v = spike_gather_pool_pack(x, g.win, g.p, right, false);
                const at::Tensor got = spike_gather_conv2d(v, pooled.size(2), PW, rows, g.o, b, {g.k, g.k}, {g.s, g.s},
                                                           {g.p, g.p}, false);
                const at::Tensor plain = spike_gather_conv2d(spike_gather_pool_pack(x, g.win, g.p, right, true),
                                                             pooled.size(2), PW, rows, g.o, b, {g.k, g.k}, {g.s, g.s},
                                                             {g.p, g.p}, true);
                ASSERT_TRUE(at::equal(got, plain)) << "C " << g.c << " O " << g.o << " rate " << rate;
                // a pooled value of q spikes is q rows added one by one: up to g times the float convolution's
                // terms, so up to g times the margin (a wrong row or bit errs by a weight, ~1)
                snnkit_test::expect_float_sum_error(got, pooled, w, b, {g.s, g.s}, {g.p, g.p}, {1, 1},
                                                    4.0 * static_cast<double>(group));
            }
        }
    }
}

TEST(spike_gather_pool, refusals) {
    const at::Tensor x = at::ones({1, 4, 6, 6});
    EXPECT_TRUE(spike_gather_pool_fits({2, 2}, {2, 2}, {0, 0}));
    EXPECT_TRUE(spike_gather_pool_fits({4, 4}, {4, 4}, {0, 0}));
    EXPECT_FALSE(spike_gather_pool_fits({2, 2}, {1, 1}, {0, 0})); // overlapping windows
    EXPECT_FALSE(spike_gather_pool_fits({2, 2}, {2, 2}, {1, 0})); // padding
    EXPECT_FALSE(spike_gather_pool_fits({5, 4}, {5, 4}, {0, 0})); // 20 positions
    EXPECT_THROW(spike_gather_pool_pack(x, {0, 2}, 0, 0), snnkit::error);
    EXPECT_THROW(spike_gather_pool_pack(x, {5, 5}, 0, 0), snnkit::error);
    EXPECT_THROW(spike_gather_pool_pack(at::ones({1, 4, 1, 6}), {2, 2}, 0, 0), snnkit::error); // no whole window
    EXPECT_THROW(spike_gather_pool_pack(x.to(at::kDouble), {2, 2}, 0, 0), snnkit::error);
    EXPECT_THROW(spike_gather_pool_pack(x, {2, 2}, -1, 0), snnkit::error);
    // packed windows are not the table's input, and rows made for other channels do not fit
    const spike_bits b = spike_gather_pool_pack(x, {2, 2}, 1, 1);
    EXPECT_THROW(spike_gather_conv2d(b, 3, 3, spike_gather_rows(at::ones({8, 9, 3, 3}), {}), 8, {}, {3, 3}, {1, 1},
                                     {1, 1}),
                 snnkit::error);
    EXPECT_NO_THROW(spike_gather_conv2d(b, 3, 3, spike_gather_rows(at::ones({8, 4, 3, 3}), {}), 8, {}, {3, 3},
                                        {1, 1}, {1, 1}));
}

TEST(spike_gather_pool, cache_keeps_rows_per_window) {
    const at::Tensor w = at::randn({8, 4, 3, 3});
    spike_gather_cache cache;
    const at::Tensor r1 = cache.rows(w, {}), r4 = cache.rows(w, {}, 4);
    EXPECT_EQ(cache.preparations(), 2);
    EXPECT_TRUE(at::allclose(r4 * 4, r1));
    EXPECT_TRUE(cache.rows(w, {}, 4).is_same(r4));
    EXPECT_EQ(cache.preparations(), 2);
    EXPECT_THROW(cache.rows(w, {}, 0), snnkit::error);
}

namespace {

// conv -> spike -> avg_pool 2x2 -> conv -> spike -> avg_pool 3x3 -> conv (1x1) -> spike -> flatten -> fc: two
// convolutions read pooled spikes (windows of 4 and 9 positions), thresholds per channel and per layer scaled by
// vth_scale (high: few spikes, the gathered path; low: most neurons fire, the dense path).
graph pooled_snn(double vth_scale) {
    graph_builder b({3, 12, 12}, 4, 11);
    b.conv2d("c1", 3, 24, 3, 1, 1, true);
    b.relu("r1");
    b.avg_pool("p1", 2, 2);
    b.conv2d("c2", 24, 20, 3, 1, 1, true);
    b.relu("r2");
    b.avg_pool("p2", 3, 3);
    b.conv2d("c3", 20, 17, 1, 1, 0, true);
    b.relu("r3");
    b.flatten("flat");
    b.linear("fc", 17 * 2 * 2, 4);
    graph g = b.finish("custom");
    at::manual_seed(12);
    for (auto & n : g.nodes) {
        if (n.op == op_kind::relu) {
            n.op = op_kind::spike;
            n.attrs.neuron.spike_vth = true;
        }
    }
    g.nodes[g.find("r1")].buffers["v_th"] = (at::rand({24}) + 1.0) * vth_scale;
    g.nodes[g.find("r2")].buffers["v_th"] = at::full({}, 0.5 * vth_scale);
    g.nodes[g.find("r3")].buffers["v_th"] = at::full({}, 0.3 * vth_scale);
    return g;
}

} // namespace

// The executor leaves each pooling to its gathered reader when few neurons fire, and forms the pooled map for the
// dense kernel when most do; either way its outputs are the dense executor's (up to the order of float sums). With
// an observer the pooling runs as a node (the observer sees its map).
TEST(spike_gather_pool, snn_executor_leaves_poolings_to_gathered_convolutions) {
    at::NoGradGuard ng;
    at::manual_seed(13);
    const at::Tensor x = at::randn({3, 3, 12, 12});
    for (const double vth_scale : {3.0, 0.01}) {
        const graph g = pooled_snn(vth_scale);
        snn_options dense;
        dense.T = 6;
        snn_options sparse = dense;
        sparse.sparse = true;
        spike_gather_cache cache;
        sparse.gather_cache = &cache;
        std::vector<double> rates;
        snn_options observed = dense;
        observed.observer = [&](int, const node & n, const at::Tensor & out) {
            if (n.op == op_kind::spike) {
                rates.push_back(nonzero_fraction(out));
            }
        };
        const snn_output a = snn_forward(g, x, dense);
        snn_forward(g, x, observed);
        const snn_output b = snn_forward(g, x, sparse);
        ASSERT_EQ(rates.size(), 3u);
        if (vth_scale > 1) { // r1 and r2 fire rarely: both pooled convolutions gathered (rows for windows 4 and 9)
            EXPECT_GT(rates[0], 0.0);
            EXPECT_LT(rates[0] * 4, 0.2) << rates[0];
            EXPECT_LT(rates[1] * 9, 0.2) << rates[1];
            EXPECT_EQ(cache.preparations(), 2);
            EXPECT_TRUE(at::allclose(b.out, a.out, 1e-4, 1e-4)) << (b.out - a.out).abs().max().item<double>();
        } else { // most neurons fire: the dense path, the same kernels as the dense executor
            EXPECT_GT(rates[0] * 4, 0.5) << rates[0];
            EXPECT_EQ(cache.preparations(), 0);
            EXPECT_TRUE(at::equal(b.out, a.out));
        }
        // an observer: the pooling runs as a node, and the observer sees its map
        int pools_seen = 0;
        snn_options sparse_observed = sparse;
        sparse_observed.observer = [&](int, const node & n, const at::Tensor & out) {
            if (n.op == op_kind::avg_pool) {
                EXPECT_TRUE(out.defined());
                ++pools_seen;
            }
        };
        snn_forward(g, x, sparse_observed);
        EXPECT_EQ(pools_seen, 2);
    }
}
