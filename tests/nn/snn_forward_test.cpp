// The SNN executor: input encodings, time-major input, and errors.
#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

using namespace snnkit;

namespace {

graph identity_net(int64_t f) {
    graph_builder b({f}, f, 0);
    b.linear("fc", f, f);
    graph g = b.finish("custom");
    g.nodes[1].params["weight"] = at::eye(f);
    g.nodes[1].params["bias"] = at::zeros({f});
    return g;
}

} // namespace

// A model trained on normalised images, x = (raw - mean) / std: the spikes fire at the raw intensity and
// are normalised the same way, so their mean over time is x (what the first layer was trained on).
TEST(snn_forward, poisson_encoding_of_normalised_input_fires_at_the_raw_intensity) {
    const graph g = identity_net(6);
    const at::Tensor raw = at::tensor({0.0f, 0.1f, 0.3f, 0.5f, 0.9f, 1.0f}).reshape({1, 6});
    const float mean = 0.25f, std = 0.5f;
    const at::Tensor x = (raw - mean) / std;
    snn_options so;
    so.T = 4000;
    so.encoding = "poisson";
    so.seed = 5;
    so.input_mean = {mean};
    so.input_std = {std};
    at::Tensor in;
    so.observer = [&](int i, const node &, const at::Tensor & out) {
        if (i == 0) in = out.clone();
    };
    at::NoGradGuard ng;
    snn_forward(g, x, so);
    const float lo = (0 - mean) / std, hi = (1 - mean) / std;
    EXPECT_TRUE(at::logical_or(in.eq(lo), in.eq(hi)).all().item<bool>()); // normalised binary spikes
    const at::Tensor fired = in.eq(hi).to(at::kFloat).mean(0).reshape({6});
    EXPECT_LT((fired - raw.reshape({6})).abs().max().item<float>(), 0.03f) << fired;
    EXPECT_LT((in.mean(0) - x).abs().max().item<float>(), 0.03f / std);
    // Sizes that fit neither one value nor the channels are refused.
    so.input_mean = {0.1f, 0.2f};
    so.input_std = {1.0f, 1.0f};
    EXPECT_THROW(snn_forward(g, x, so), error);
}

TEST(snn_forward, poisson_encoding_fires_at_the_clamped_pixel_value) {
    const graph g = identity_net(6);
    const at::Tensor x = at::tensor({-0.5f, 0.0f, 0.1f, 0.5f, 0.9f, 1.7f}).reshape({1, 6});
    snn_options so;
    so.T = 4000;
    so.encoding = "poisson";
    so.seed = 3;
    at::Tensor in_spikes;
    so.observer = [&](int i, const node &, const at::Tensor & out) {
        if (i == 0) in_spikes = out.clone();
    };
    at::NoGradGuard ng;
    const at::Tensor out = snn_forward(g, x, so).out;
    EXPECT_TRUE(at::logical_or(in_spikes.eq(0), in_spikes.eq(1)).all().item<bool>()); // binary spikes
    const at::Tensor rate = in_spikes.mean(0).reshape({6});
    const at::Tensor want = x.clamp(0, 1).reshape({6});
    EXPECT_LT((rate - want).abs().max().item<float>(), 0.03f) << rate;
    EXPECT_EQ(rate[0].item<float>(), 0.0f);
    EXPECT_EQ(rate[5].item<float>(), 1.0f);
    // the same seed gives the same spikes
    at::Tensor again;
    so.observer = [&](int i, const node &, const at::Tensor & o) {
        if (i == 0) again = o.clone();
    };
    snn_forward(g, x, so);
    EXPECT_TRUE(at::equal(in_spikes, again));
    EXPECT_TRUE(at::allclose(out.mean(0), in_spikes.mean(0)));
}

TEST(snn_forward, direct_and_time_major_inputs_agree_and_errors_are_clear) {
    const graph g = identity_net(3);
    const at::Tensor x = at::randn({2, 3});
    snn_options so;
    so.T = 5;
    at::NoGradGuard ng;
    const at::Tensor a = snn_forward(g, x, so).out;
    const at::Tensor b = snn_forward(g, x.unsqueeze(0).expand({5, 2, 3}).contiguous(), so).out;
    EXPECT_EQ(a.sizes(), (std::vector<int64_t>{5, 2, 3}));
    EXPECT_TRUE(at::allclose(a, b));
    so.encoding = "rate-coded";
    EXPECT_THROW(snn_forward(g, x, so), snnkit::error);
    so.encoding = "direct";
    so.T = 0;
    EXPECT_THROW(snn_forward(g, x, so), snnkit::error);
    so.T = 4;
    EXPECT_THROW(snn_forward(g, at::randn({5, 2, 3}), so), snnkit::error); // 5 steps given, T = 4
    EXPECT_THROW(snn_forward(g, at::randn({2, 4}), so), snnkit::error);    // wrong feature count
}

// A network simulated in segments (the frontier values handed from one partial run to the next, as
// layer-wise calibration does) gives exactly the outputs of one full run; a partial run without the values
// it reads is refused.
TEST(snn_forward, segment_runs_equal_one_full_run) {
    graph_builder b({2, 6, 6}, 3, 4);
    b.conv2d("c1", 2, 4, 3, 1, 1, true);
    const int r1 = b.relu("r1");
    b.conv2d("c2", 4, 4, 3, 1, 1, true);
    b.relu("r2");
    b.conv2d("c3", 4, 4, 3, 1, 1, true);
    b.add("add", {b.last(), r1});
    b.relu("r3");
    b.global_avg_pool("gap");
    b.flatten("flat");
    b.linear("fc", 4, 3);
    graph ann = b.finish("custom");
    for (auto & n : ann.nodes) { // a spike node for every ReLU, threshold 0.5, V_th-valued spikes
        if (n.op == op_kind::relu) {
            n.op = op_kind::spike;
            n.attrs.neuron.spike_vth = true;
            n.buffers["v_th"] = at::full({}, 0.5);
        }
    }
    at::manual_seed(3);
    const at::Tensor x = at::rand({5, 2, 6, 6});
    snn_options full;
    full.T = 4;
    const at::Tensor want = snn_forward(ann, x, full).out;

    // part 1: up to r2 (node 4), holding what later nodes read: r1 (for the residual add) and r2
    const int r2 = ann.find("r2");
    snn_options p1 = full;
    p1.stop_at = r2;
    p1.hold = {r1, r2};
    const snn_output o1 = snn_forward(ann, x, p1);
    ASSERT_EQ(o1.held.size(), 2u);
    EXPECT_TRUE(o1.held.at(r1).temporal);
    std::map<int, snn_node_value> frontier = o1.held;
    frontier[0] = {x, false};
    snn_options p2 = full;
    p2.first = r2 + 1;
    p2.resume = &frontier;
    EXPECT_TRUE(at::equal(snn_forward(ann, x, p2).out, want));

    frontier.erase(r1); // the add reads r1: refused
    EXPECT_THROW(snn_forward(ann, x, p2), snnkit::error);
}

// Dropout after a spike layer in training: `dropout_shared` keeps one mask per neuron for all T steps
// (inverted scaling 1 / (1 - p)); by default every step draws its own mask. A neuron fed 2 V_th fires at
// every step, so the dropout node's zeros are the mask itself.
TEST(snn_forward, dropout_mask_shared_over_time_or_drawn_per_step) {
    const int64_t f = 256, T = 6;
    const double p = 0.5;
    graph_builder b({f}, 2, 0);
    b.linear("fc1", f, f);
    b.relu("r1");
    const int drop = b.dropout("drop", p);
    b.linear("fc2", f, 2);
    graph g = b.finish("custom");
    g.nodes[1].params["weight"] = at::eye(f);
    g.nodes[1].params["bias"] = at::zeros({f});
    node & s = g.nodes[g.find("r1")];
    s.op = op_kind::spike;
    s.buffers["v_th"] = at::full({}, 1.0);
    const at::Tensor x = at::full({3, f}, 2.0f);
    for (bool shared : {true, false}) {
        at::Tensor out;
        snn_options so;
        so.T = T;
        so.train = true;
        so.dropout_shared = shared;
        so.observer = [&](int i, const node &, const at::Tensor & v) {
            if (i == drop) out = v.detach().clone(); // [T, N, F]
        };
        at::manual_seed(9);
        snn_forward(g, x, so);
        ASSERT_TRUE(out.defined());
        const at::Tensor kept = out.ne(0);
        // kept values are the spike (1) scaled by 1 / (1 - p); about half are kept
        EXPECT_TRUE(out.masked_select(kept).eq(static_cast<float>(1.0 / (1.0 - p))).all().item<bool>());
        const double frac = kept.to(at::kFloat).mean().item<double>();
        EXPECT_NEAR(frac, 1.0 - p, 0.05) << "shared " << shared;
        const bool same_every_step = kept.eq(kept[0].unsqueeze(0)).all().item<bool>();
        EXPECT_EQ(same_every_step, shared);
        // different samples of the batch still get different masks
        EXPECT_FALSE(kept[0][0].equal(kept[0][1])) << "shared " << shared;
    }
    // inference: no dropout
    snn_options so;
    so.T = T;
    so.dropout_shared = true;
    at::Tensor out;
    so.observer = [&](int i, const node &, const at::Tensor & v) {
        if (i == drop) out = v.detach().clone();
    };
    snn_forward(g, x, so);
    EXPECT_TRUE(out.eq(1.0f).all().item<bool>());
}

// Without gradients, convolutions run channels last on wide maps (conv_layout) and the spiking layers
// behind them on that layout (the static first layer through neuron_forward_repeated, the later ones per step):
// the output equals the same network written with contiguous ATen ops and the neuron on contiguous tensors,
// within float rounding (per-channel thresholds, alpha 0.8). Training keeps the contiguous layout.
TEST(snn_forward, channels_last_inference_equals_the_contiguous_reference) {
    {
        at::NoGradGuard ng;
        EXPECT_TRUE(conv_layout(at::zeros({2, 8, 16, 16})).is_contiguous(at::MemoryFormat::ChannelsLast));
        EXPECT_TRUE(conv_layout(at::zeros({2, 8, 8, 8}).contiguous(at::MemoryFormat::ChannelsLast)).is_contiguous());
        EXPECT_TRUE(conv_layout(at::zeros({2, 1, 28, 28})).is_contiguous());
    }
    EXPECT_TRUE(conv_layout(at::zeros({2, 8, 16, 16}).contiguous(at::MemoryFormat::ChannelsLast)).is_contiguous());
    graph_builder b({3, 16, 16}, 5, 4);
    b.conv2d("c1", 3, 8, 3, 1, 1, true);
    b.relu("r1");
    b.conv2d("c2", 8, 8, 3, 1, 1, true);
    b.relu("r2");
    b.global_avg_pool("gap");
    b.flatten("flat");
    b.linear("fc", 8, 5);
    graph g = b.finish("custom");
    at::manual_seed(11);
    for (auto & n : g.nodes) {
        if (n.op == op_kind::relu) {
            n.op = op_kind::spike;
            n.attrs.neuron.alpha = 0.8;
            n.buffers["v_th"] = at::rand({8}) * 0.3 + 0.2;
        }
    }
    at::NoGradGuard ng;
    const at::Tensor x = at::randn({4, 3, 16, 16});
    const int64_t T = 3;
    snn_options o;
    o.T = T;
    const at::Tensor out = snn_forward(g, x, o).out; // [T, N, 5]
    const node & c1 = g.nodes[g.find("c1")];
    const node & s1 = g.nodes[g.find("r1")];
    const node & c2 = g.nodes[g.find("c2")];
    const node & s2 = g.nodes[g.find("r2")];
    const node & fc = g.nodes[g.find("fc")];
    const at::Tensor a1 = at::conv2d(x, c1.tensor("weight"), c1.tensor("bias"), 1, 1).contiguous();
    const at::Tensor z1 = neuron_forward(a1.unsqueeze(0).expand({T, 4, 8, 16, 16}).contiguous(), s1.tensor("v_th"),
                                         at::Tensor(), s1.attrs.neuron).spikes;
    const at::Tensor a2 = at::conv2d(z1.flatten(0, 1).contiguous(), c2.tensor("weight"), c2.tensor("bias"), 1, 1).contiguous();
    const at::Tensor z2 = neuron_forward(a2.view({T, 4, 8, 16, 16}), s2.tensor("v_th"), at::Tensor(), s2.attrs.neuron).spikes;
    const at::Tensor ref = at::linear(z2.mean({3, 4}), fc.tensor("weight"), fc.tensor("bias")); // [T, N, 5]
    EXPECT_GT(z1.mean().item<double>(), 0.05);
    EXPECT_GT(z2.mean().item<double>(), 0.05);
    EXPECT_TRUE(at::allclose(out, ref, 1e-5, 1e-6)) << (out - ref).abs().max().item<double>();
}

// A spiking layer on a channels-last input (static [N, C, H, W], or time-major [T, N, C, H, W]) runs on it as it
// is in training too, with a per-neuron v0: the output and the gradients of the input, a learnable alpha and the
// classifier equal those of the contiguous input (float64: within 1e-12).
TEST(snn_forward, channels_last_spike_layer_trains_like_the_contiguous_one) {
    graph_builder b({6, 5, 7}, 3, 4);
    b.relu("r");
    b.global_avg_pool("gap");
    b.flatten("flat");
    b.linear("fc", 6, 3);
    graph g = b.finish("custom");
    at::manual_seed(12);
    node & s = g.nodes[g.find("r")];
    s.op = op_kind::spike;
    s.attrs.neuron.alpha = 0.7;
    s.buffers["v_th"] = (at::rand({6}) * 0.5 + 0.3).to(at::kDouble);
    s.params["alpha"] = at::full({}, 0.7, at::kDouble);
    s.buffers["v0"] = (at::rand({6, 5, 7}) * 0.3).to(at::kDouble);
    for (auto & kv : g.named_params()) {
        kv.second.set_data(kv.second.to(at::kDouble));
        kv.second.requires_grad_(true);
    }
    const int64_t T = 4;
    for (bool temporal : {false, true}) {
        const at::Tensor base = temporal ? at::randn({T, 3, 6, 5, 7}, at::kDouble) + 0.3 : at::randn({3, 6, 5, 7}, at::kDouble) + 0.3;
        const at::Tensor cl = temporal ? base.permute({0, 1, 3, 4, 2}).contiguous().permute({0, 1, 4, 2, 3})
                                       : base.contiguous(at::MemoryFormat::ChannelsLast);
        ASSERT_FALSE(cl.is_contiguous());
        std::vector<at::Tensor> grads[2];
        at::Tensor outs[2];
        for (int k = 0; k < 2; ++k) {
            const at::Tensor x = (k == 0 ? base : cl).detach().requires_grad_(true);
            snn_options o;
            o.T = T;
            o.train = true;
            outs[k] = snn_forward(g, x, o).out;
            (outs[k] * outs[k]).sum().backward();
            grads[k].push_back(x.grad().contiguous());
            for (auto & kv : g.named_params()) {
                grads[k].push_back(kv.second.grad().clone());
                kv.second.mutable_grad() = at::Tensor();
            }
        }
        EXPECT_TRUE(at::allclose(outs[0], outs[1], 1e-12, 1e-12)) << (temporal ? "temporal" : "static");
        for (size_t j = 0; j < grads[0].size(); ++j) {
            EXPECT_TRUE(at::allclose(grads[0][j], grads[1][j], 1e-12, 1e-12)) << (temporal ? "temporal" : "static") << " grad " << j;
        }
    }
}

// A residual add read only by a spike node is formed inside the neuron kernel in inference without an observer
// (neuron_forward_sum); with an observer it is formed as a node. Both give the same outputs and potentials bit
// for bit, on maps laid out contiguously (6 x 6) and channels last (16 x 16, conv_layout), and with an add read by
// two nodes (not fused).
TEST(snn_forward, residual_add_into_a_spike_node_equals_the_add_node) {
    for (const int64_t hw : {6, 16}) {
        graph_builder b({3, hw, hw}, 4, 2);
        b.conv2d("c1", 3, 8, 3, 1, 1, true);
        const int r1 = b.relu("r1");
        b.conv2d("c2", 8, 8, 3, 1, 1, true);
        b.add("add", {b.last(), r1});
        const int r2 = b.relu("r2");
        b.conv2d("c3", 8, 8, 3, 1, 1, true);
        const int a2 = b.add("add2", {b.last(), r2}); // read by r3 and by add3: formed as a node
        b.relu("r3");
        b.add("add3", {b.last(), a2});
        b.relu("r4");
        b.global_avg_pool("gap");
        b.flatten("flat");
        b.linear("fc", 8, 4);
        graph g = b.finish("custom");
        at::manual_seed(17);
        for (auto & n : g.nodes) {
            if (n.op == op_kind::relu) {
                n.op = op_kind::spike;
                n.buffers["v_th"] = at::rand({8}) * 0.4 + 0.2;
                n.buffers["v0"] = at::rand({8}) * 0.1;
            }
        }
        at::NoGradGuard ng;
        const at::Tensor x = at::randn({5, 3, hw, hw});
        snn_options o;
        o.T = 6;
        o.chunk = -1;
        const snn_output fused = snn_forward(g, x, o);
        o.observer = [](int, const node &, const at::Tensor &) {};
        const snn_output plain = snn_forward(g, x, o);
        EXPECT_TRUE(at::equal(fused.out, plain.out)) << hw;
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            ASSERT_EQ(fused.v[i].defined(), plain.v[i].defined()) << g.nodes[i].name;
            if (plain.v[i].defined()) {
                EXPECT_TRUE(at::equal(fused.v[i], plain.v[i])) << hw << " " << g.nodes[i].name;
                EXPECT_GT(plain.v[i].abs().sum().item<double>(), 0.0) << g.nodes[i].name;
            }
        }
        EXPECT_GT(plain.out.abs().sum().item<double>(), 0.0);
    }
}
