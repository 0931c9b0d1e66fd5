// Operation counting: fan-out maps against naive loops, SOPs of tiny networks computed by hand (a conv
// with padding and stride, a linear, avg-pools, a residual add), the ANN MACs of VGG-16 and He's
// ResNet-20 against their known totals, and an SNN run against a forward recount of the events.
#include "snnkit/core/error.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/zoo.h"
#include "snnkit/stats/ops.h"
#include "snnkit/stats/sops.h"
#include "snnkit/stats/stats_json.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>

using namespace snnkit;

namespace {

// Turns node `name` (a ReLU, or any single-input node) into an IF neuron with threshold v_th.
void make_spike(graph & g, const std::string & name, double v_th = 1.0, reset_mode reset = reset_mode::soft) {
    node & n = g.nodes[g.find(name)];
    n.op = op_kind::spike;
    n.buffers["v_th"] = at::tensor(v_th, at::kFloat);
    n.attrs.neuron.reset = reset;
}

// Events of one node as the observer sees them: [T, N, ...] with ones at the listed (t, n, flat index).
at::Tensor events(std::vector<int64_t> shape, const std::vector<std::array<int64_t, 3>> & at_tnf) {
    at::Tensor e = at::zeros(shape, at::kFloat);
    at::Tensor flat = e.view({shape[0], shape[1], -1});
    for (const auto & p : at_tnf) {
        flat[p[0]][p[1]][p[2]] = 1.0f;
    }
    return e;
}

// input [1,3,3] -> conv 1->2, k3 s2 p1 -> [2,2,2] -> IF neuron "s1" -> flatten -> linear 8->3.
graph conv_spike_linear() {
    graph_builder b({1, 3, 3}, 3, 0);
    b.conv2d("conv", 1, 2, 3, 2, 1);
    b.relu("s1");
    b.flatten("flat");
    b.linear("fc", 8, 3);
    graph g = b.finish("custom");
    make_spike(g, "s1");
    return g;
}

const synapse_stats & layer(const network_stats & s, const std::string & name, const std::string & source = "") {
    for (const auto & l : s.layers) {
        if (l.name == name && (source.empty() || l.source == source)) {
            return l;
        }
    }
    throw std::runtime_error("no layer " + name);
}

// Naive count of the (output, tap) pairs every input position of a conv feeds.
std::vector<double> naive_conv_fanout(int64_t H, int64_t W, int64_t k, int64_t s, int64_t p, int64_t d,
                                      int64_t ho, int64_t wo) {
    std::vector<double> c(H * W, 0.0);
    for (int64_t oh = 0; oh < ho; ++oh) {
        for (int64_t ow = 0; ow < wo; ++ow) {
            for (int64_t a = 0; a < k; ++a) {
                for (int64_t b = 0; b < k; ++b) {
                    const int64_t ih = oh * s - p + a * d, iw = ow * s - p + b * d;
                    if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                        c[ih * W + iw] += 1;
                    }
                }
            }
        }
    }
    return c;
}

} // namespace

TEST(ConvFanout, MatchesNaiveLoopOverKernelStridePaddingDilationGroups) {
    struct cfg {
        int64_t cin, cout, groups, H, W, k, s, p, d;
    };
    for (const cfg & c : {cfg{1, 2, 1, 3, 3, 3, 2, 1, 1}, cfg{4, 6, 2, 7, 5, 3, 1, 1, 1}, cfg{3, 3, 3, 9, 9, 3, 2, 0, 2},
                          cfg{2, 8, 1, 6, 6, 5, 3, 2, 1}, cfg{2, 4, 1, 5, 8, 1, 2, 0, 1}}) {
        node_attrs a;
        a.in = c.cin;
        a.out = c.cout;
        a.groups = c.groups;
        a.kernel = {c.k, c.k};
        a.stride = {c.s, c.s};
        a.padding = {c.p, c.p};
        a.dilation = {c.d, c.d};
        const int64_t ho = (c.H + 2 * c.p - c.d * (c.k - 1) - 1) / c.s + 1, wo = (c.W + 2 * c.p - c.d * (c.k - 1) - 1) / c.s + 1;
        const at::Tensor f = conv_fanout(a, {c.cin, c.H, c.W});
        ASSERT_EQ(f.sizes(), (at::IntArrayRef{c.cin, c.H, c.W}));
        const auto ref = naive_conv_fanout(c.H, c.W, c.k, c.s, c.p, c.d, ho, wo);
        for (int64_t ch = 0; ch < c.cin; ++ch) {
            for (int64_t i = 0; i < c.H * c.W; ++i) {
                EXPECT_EQ(f[ch].reshape({-1})[i].item<double>(), ref[i] * static_cast<double>(c.cout / c.groups))
                    << "k" << c.k << " s" << c.s << " p" << c.p << " d" << c.d << " g" << c.groups << " at " << i;
            }
        }
    }
}

// conv_spike_linear() with spikes as input.
TEST(Sops, ConvWithPaddingAndStrideThenLinearByHand) {
    const graph g = conv_spike_linear();
    stats_options o;
    o.input_events = true;
    stats_collector c(g, 2, o);
    // Rows (and columns) 0 and 2 reach one output row each, row 1 both (padding 1, stride 2), so a spike
    // at (i, j) reaches r(i) r(j) output positions of each of the 2 channels, r = (1, 2, 1).
    // Image 0: t=0 spikes at (0,0) and (1,1), t=1 at (1,1) and (2,1); image 1: no input spike.
    c.observe(0, g.nodes[0], events({2, 2, 1, 3, 3}, {{0, 0, 0}, {0, 0, 4}, {1, 0, 4}, {1, 0, 7}}));
    // s1: 3 spikes at t=0 and 2 at t=1 in image 0, 1 in image 1; each reaches the 3 outputs of fc.
    c.observe(g.find("s1"), g.nodes[2], events({2, 2, 2, 2, 2}, {{0, 0, 0}, {0, 0, 5}, {0, 0, 7}, {1, 0, 1}, {1, 0, 2}, {1, 1, 3}}));
    const network_stats s = c.result();
    EXPECT_EQ(s.images, 2);
    const double conv_sops = (2 * (1 * 1) + 2 * (2 * 2)) + (2 * (2 * 2) + 2 * (1 * 2)); // 10 + 12 over 2 images
    EXPECT_DOUBLE_EQ(layer(s, "conv").sops, conv_sops / 2);
    EXPECT_DOUBLE_EQ(layer(s, "fc").sops, 6.0 * 3 / 2);
    EXPECT_TRUE(layer(s, "conv").events);
    EXPECT_DOUBLE_EQ(layer(s, "conv").input_rate, 4.0 / (2 * 2 * 9));
    EXPECT_DOUBLE_EQ(layer(s, "fc").input_rate, 6.0 / (2 * 2 * 8));
    // ANN MACs: conv Cout*Hout*Wout*Cin*k*k = 2*2*2*1*9 (padded taps included), linear 8*3.
    EXPECT_DOUBLE_EQ(layer(s, "conv").ann_macs, 72);
    EXPECT_DOUBLE_EQ(layer(s, "fc").ann_macs, 24);
    ASSERT_EQ(s.neurons.size(), 2u); // the spike-encoded input and s1
    EXPECT_DOUBLE_EQ(s.neurons[1].firing_rate, 6.0 / (2 * 2 * 8));
    EXPECT_DOUBLE_EQ(s.neurons[1].spikes, 3.0);
    EXPECT_DOUBLE_EQ(s.sops, 11 + 9);
    EXPECT_DOUBLE_EQ(s.snn_energy_pj, 20 * 0.9);
    EXPECT_DOUBLE_EQ(s.ann_energy_pj, 96 * 4.6);
    EXPECT_DOUBLE_EQ(s.energy_ratio(), 96 * 4.6 / (20 * 0.9));
}

// Normalised Poisson input (the encoder's spikes are (s - mean) / std): an input event is a raw 1, and
// the zeros, now -mean/std, are not events.
TEST(Sops, NormalisedPoissonInputCountsRawSpikes) {
    const graph g = conv_spike_linear();
    stats_options o;
    o.input_events = true;
    o.input_mean = {0.25f};
    o.input_std = {0.5f};
    stats_collector c(g, 2, o);
    const at::Tensor raw = events({2, 2, 1, 3, 3}, {{0, 0, 0}, {0, 0, 4}, {1, 0, 4}, {1, 0, 7}});
    c.observe(0, g.nodes[0], (raw - 0.25f) / 0.5f);
    c.observe(g.find("s1"), g.nodes[2], events({2, 2, 2, 2, 2}, {{0, 0, 0}}));
    const network_stats s = c.result();
    EXPECT_DOUBLE_EQ(s.neurons[0].spikes, 4.0 / 2); // 4 input spikes over 2 images
    EXPECT_DOUBLE_EQ(layer(s, "conv").input_rate, 4.0 / (2 * 2 * 9));
}

// Direct encoding: the same conv sees the analog image, computed once (static) or at every step.
TEST(Sops, AnalogFirstLayerIsMacsOnceOrPerStep) {
    const graph g = conv_spike_linear();
    for (bool once : {true, false}) {
        stats_options o;
        o.static_once = once;
        o.energy.e_ac_pj = 1.0;
        o.energy.e_mac_pj = 10.0;
        stats_collector c(g, 4, o);
        c.observe(0, g.nodes[0], at::ones({4, 1, 1, 3, 3}));
        c.observe(2, g.nodes[2], events({4, 1, 2, 2, 2}, {{0, 0, 0}, {3, 0, 7}}));
        const network_stats s = c.result();
        ASSERT_EQ(s.neurons.size(), 1u);
        EXPECT_FALSE(layer(s, "conv").events);
        EXPECT_DOUBLE_EQ(layer(s, "conv").sops, 0);
        EXPECT_DOUBLE_EQ(layer(s, "conv").snn_macs, once ? 72 : 72 * 4);
        EXPECT_DOUBLE_EQ(layer(s, "fc").sops, 2 * 3);
        EXPECT_DOUBLE_EQ(s.snn_energy_pj, 6 * 1.0 + (once ? 72 : 288) * 10.0);
    }
}

// Avg-pools are folded into the next conv / linear: a spike reaches that layer's synapses through its
// pool window. input (spikes) [1,8,8]: avgpool 2 -> conv 1->2 k3 s1 p1 on 4x4; global pool -> linear
// 1->5; avgpool 2 -> a neuron directly (the pool itself accumulates).
TEST(Sops, AvgPoolFoldedIntoTheNextLayerByHand) {
    graph_builder b({1, 8, 8}, 5, 0);
    b.avg_pool("pool", 2, 2);
    b.conv2d("conv", 1, 2, 3, 1, 1);
    b.relu("s_conv");
    b.avg_pool("pool_only", 2, 2, 0, 0);
    b.relu("s_pool");
    b.global_avg_pool("gap", 0);
    b.flatten("flat");
    b.linear("fc", 1, 5);
    graph g = b.finish("custom");
    make_spike(g, "s_conv");
    make_spike(g, "s_pool");
    stats_options o;
    o.input_events = true;
    stats_collector c(g, 1, o);
    // On the 4x4 pooled map a 3x3, pad-1 conv reaches r(i) r(j) positions, r = (2, 3, 3, 2), times 2
    // channels: spikes at (0,0) -> pooled (0,0): 8; (3,5) -> (1,2): 18; (7,7) -> (3,3): 8.
    c.observe(0, g.nodes[0], events({1, 1, 1, 8, 8}, {{0, 0, 0}, {0, 0, 3 * 8 + 5}, {0, 0, 63}}));
    const network_stats s = c.result();
    EXPECT_DOUBLE_EQ(layer(s, "conv").sops, 8 + 18 + 8);
    EXPECT_DOUBLE_EQ(layer(s, "fc").sops, 3 * 5);
    EXPECT_DOUBLE_EQ(layer(s, "pool_only").sops, 3); // non-overlapping: one window per spike
    EXPECT_EQ(layer(s, "pool_only").op, "avg_pool");
    EXPECT_DOUBLE_EQ(layer(s, "conv").ann_macs, 2 * 4 * 4 * 9);
    EXPECT_DOUBLE_EQ(s.sops, 34 + 15 + 3);
}

// Residual add: input spikes [2,3,3] -> conv 1x1 2->2 -> BN -> add(BN, input) -> neuron. Each spike costs
// 2 at the 1x1 conv and 1 at the add (identity shortcut); the conv's output adds nothing more.
TEST(Sops, ResidualAddByHand) {
    graph_builder b({2, 3, 3}, 2, 0);
    b.conv2d("conv", 2, 2, 1, 1, 0, false);
    const int bn = b.batch_norm("bn", 2);
    b.add("add", {bn, 0});
    b.relu("s");
    graph g = b.finish("custom");
    make_spike(g, "s");
    stats_options o;
    o.input_events = true;
    stats_collector c(g, 3, o);
    c.observe(0, g.nodes[0], events({3, 1, 2, 3, 3}, {{0, 0, 0}, {1, 0, 9}, {2, 0, 17}, {2, 0, 4}}));
    const network_stats s = c.result();
    ASSERT_EQ(s.layers.size(), 2u); // the conv, and the add's shortcut input (not its BN input)
    EXPECT_DOUBLE_EQ(layer(s, "conv").sops, 4 * 2);
    EXPECT_DOUBLE_EQ(layer(s, "add").sops, 4);
    EXPECT_EQ(layer(s, "add").source, "input");
    EXPECT_DOUBLE_EQ(layer(s, "add").ann_macs, 0);
    EXPECT_DOUBLE_EQ(s.ann_macs, 2 * 9 * 2);
}

// Known totals (conv Cout*Hout*Wout*(Cin/g)*k*k + linear in*out; BN, pools, adds not counted).
TEST(Macs, Vgg16CifarAndHeResNet20MatchKnownTotals) {
    zoo_options o;
    o.input_shape = {3, 32, 32};
    o.num_classes = 10;
    o.arch = "vgg16";
    const int64_t vgg = ann_macs(zoo_build(o));
    // 32x32: 3->64, 64->64; 16x16: 64->128, 128->128; 8x8: 128->256, 2x 256->256;
    // 4x4: 256->512, 2x 512->512; 2x2: 3x 512->512; fc 512->10.
    const int64_t vgg_hand = 1024 * 9 * (3 * 64 + 64 * 64) + 256 * 9 * (64 * 128 + 128 * 128) +
                             64 * 9 * (128 * 256 + 2 * 256 * 256) + 16 * 9 * (256 * 512 + 2 * 512 * 512) +
                             4 * 9 * (3 * 512 * 512) + 512 * 10;
    EXPECT_EQ(vgg, vgg_hand);
    EXPECT_EQ(vgg, 313201664); // "about 313 M"
    o.arch = "resnet20-he";
    const int64_t rn = ann_macs(zoo_build(o));
    // stem 3->16 at 32x32; stage 1: 6 convs 16->16 at 32x32; stage 2: 16->32 (stride 2) + 5x 32->32 at
    // 16x16 + 1x1 projection 16->32; stage 3 likewise at 8x8 with 64 channels; fc 64->10.
    const int64_t rn_hand = 1024 * 9 * 3 * 16 + 6 * 1024 * 9 * 16 * 16 + 256 * 9 * (16 * 32 + 5 * 32 * 32) + 256 * 16 * 32 +
                            64 * 9 * (32 * 64 + 5 * 64 * 64) + 64 * 32 * 64 + 64 * 10;
    EXPECT_EQ(rn, rn_hand);
    EXPECT_EQ(rn, 40813184); // "about 41 M"
    o.arch = "cnn";
    o.input_shape = {1, 28, 28};
    EXPECT_EQ(ann_macs(zoo_build(o)), 16 * 784 * 9 + 64 * 196 * 9 * 16 + 3136 * 256 + 256 * 10);
    const network_stats a = ann_stats(zoo_build(o));
    EXPECT_EQ(a.layers.size(), 4u);
    EXPECT_DOUBLE_EQ(a.ann_energy_pj, a.ann_macs * 4.6);
}

// A whole SNN run: the zoo cnn with IF neurons, direct input. The reference recounts the accumulations
// forward: every event pushed through the pool (summing) and a conv / linear whose weights are all 1.
TEST(Sops, SnnRunMatchesForwardRecountOfEvents) {
    zoo_options zo;
    zo.arch = "cnn";
    graph g = zoo_build(zo);
    for (const char * r : {"conv1.relu", "conv2.relu", "fc1.relu"}) {
        make_spike(g, r, 0.5);
    }
    const int64_t T = 4;
    stats_collector c(g, T);
    std::map<std::string, at::Tensor> spikes;
    snn_options so;
    so.T = T;
    so.observer = [&](int i, const node & n, const at::Tensor & out) {
        c.observe(i, n, out);
        if (n.op == op_kind::spike) {
            spikes[n.name] = out.ne(0).to(at::kDouble).flatten(0, 1); // [T*N, ...]
        }
    };
    at::NoGradGuard ng;
    const at::Tensor x = at::rand({3, 1, 28, 28}, at::kFloat);
    snn_forward(g, x, so);
    const network_stats s = c.result();
    auto sum_pool = [](const at::Tensor & e) { return at::avg_pool2d(e, {2, 2}, {2, 2}) * 4; };
    const double conv2_ref = at::conv2d(sum_pool(spikes["conv1.relu"]), at::ones({64, 16, 3, 3}, at::kDouble), {}, 1, 1)
                                 .sum().item<double>() / 3;
    const double fc1_ref = at::linear(sum_pool(spikes["conv2.relu"]).flatten(1), at::ones({256, 3136}, at::kDouble))
                               .sum().item<double>() / 3;
    const double fc2_ref = spikes["fc1.relu"].sum().item<double>() * 10 / 3;
    EXPECT_NEAR(layer(s, "conv2").sops, conv2_ref, 1e-6 * conv2_ref);
    EXPECT_NEAR(layer(s, "fc1").sops, fc1_ref, 1e-6 * fc1_ref);
    EXPECT_NEAR(layer(s, "fc2").sops, fc2_ref, 1e-9 + 1e-6 * fc2_ref);
    EXPECT_GT(conv2_ref, 0);
    EXPECT_FALSE(layer(s, "conv1").events);
    EXPECT_DOUBLE_EQ(layer(s, "conv1").snn_macs, 16 * 784 * 9);
    EXPECT_NEAR(s.neurons[0].firing_rate, spikes["conv1.relu"].mean().item<double>(), 1e-12);
    // The JSON carries the same figures.
    const auto j = nlohmann::json::parse(stats_to_json(s));
    EXPECT_DOUBLE_EQ(j["totals"]["sops"].get<double>(), s.sops);
    EXPECT_EQ(j["layers"].size(), 4u);
    EXPECT_NE(stats_table(s).find("ANN/SNN"), std::string::npos);
}

TEST(Sops, Errors) {
    zoo_options zo;
    const graph g = zoo_build(zo);
    stats_collector c(g, 2);
    EXPECT_THROW(c.result(), snnkit::error); // nothing observed
    EXPECT_THROW(c.observe(0, g.nodes[0], at::zeros({3, 1, 1, 28, 28})), snnkit::error); // T mismatch
    EXPECT_THROW(stats_collector(g, 0), snnkit::error);
    graph bad = g;
    bad.nodes[g.find("fc1")].attrs.in = 100;
    try {
        node_shapes(bad);
        FAIL() << "no error";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("fc1"), std::string::npos) << e.what();
    }
}

// The same spikes laid out channels last (as the executor's AMX layers leave them) give the same counts, SOPs and
// rates as the contiguous ones; conv2's fanout depends on the position (stride 2, padding 1), so counts put at the
// wrong neuron would change its SOPs.
TEST(Sops, ChannelsLastSpikesCountAsContiguousOnes) {
    graph_builder b({1, 5, 5}, 3, 0);
    b.conv2d("conv", 1, 2, 3, 1, 1);
    b.relu("s1");
    b.conv2d("conv2", 2, 3, 3, 2, 1);
    b.flatten("flat");
    b.linear("fc", 27, 3);
    graph g = b.finish("custom");
    make_spike(g, "s1");
    stats_options o;
    o.input_events = true;
    at::manual_seed(3);
    const at::Tensor in = at::bernoulli(at::full({2, 4, 1, 5, 5}, 0.4));
    const at::Tensor s1 = at::bernoulli(at::full({2, 4, 2, 5, 5}, 0.3));
    const at::Tensor s1_cl = s1.flatten(0, 1).contiguous(at::MemoryFormat::ChannelsLast).view({2, 4, 2, 5, 5});
    ASSERT_FALSE(s1_cl.is_contiguous());
    network_stats r[2];
    for (int k = 0; k < 2; ++k) {
        stats_collector c(g, 2, o);
        c.observe(0, g.nodes[0], in);
        c.observe(g.find("s1"), g.nodes[g.find("s1")], k == 0 ? s1 : s1_cl);
        r[k] = c.result();
    }
    EXPECT_GT(layer(r[0], "conv2").sops, 0);
    EXPECT_DOUBLE_EQ(layer(r[1], "conv2").sops, layer(r[0], "conv2").sops);
    EXPECT_DOUBLE_EQ(r[1].neurons[1].spikes, r[0].neurons[1].spikes);
    EXPECT_DOUBLE_EQ(r[1].sops, r[0].sops);
}
