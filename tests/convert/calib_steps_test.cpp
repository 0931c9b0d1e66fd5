// Each calibration formula against an independent naive computation: the step functions of calib_steps.h
// on their own (scalar loops, closed-form minimisers), and calibrate() applying exactly them layer by layer
// (the correction it applies equals the naive one measured on the same images, with the earlier layers
// already calibrated), and WC lowering a held-out error it starts measurably wrong on.
#include "snnkit/convert/calib_steps.h"
#include "snnkit/convert/calibrate.h"
#include "snnkit/convert/convert.h"
#include "snnkit/core/error.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace snnkit;

namespace {

// The clip-floor rate of one value, written out: v/T * min(max(floor(T x / v + shift), 0), T).
double clipfloor_scalar(double x, int64_t T, double v, double shift) {
    const double k = std::floor(static_cast<double>(T) * x / v + shift);
    return v / static_cast<double>(T) * std::min(std::max(k, 0.0), static_cast<double>(T));
}

// The threshold search by brute force over the same grid, one scalar at a time (ties: the smaller k).
double naive_search(const std::vector<double> & xs, int64_t T, int64_t grid, double shift) {
    double mx = 0;
    for (double x : xs) mx = std::max(mx, x);
    double best = std::numeric_limits<double>::infinity(), best_v = mx;
    for (int64_t k = 1; k <= grid; ++k) {
        const double v = mx * static_cast<double>(k) / static_cast<double>(grid);
        double err = 0;
        for (double x : xs) {
            const double d = clipfloor_scalar(x, T, v, shift) - std::max(x, 0.0);
            err += d * d;
        }
        if (err < best) {
            best = err;
            best_v = v;
        }
    }
    return best_v;
}

// 1000 values at 1 and one outlier at 10, T = 4, grid 10 (candidates 1..10): V = 4 is the only threshold that
// keeps the 1s exact (floor(4 / V) * V / 4 = 1 needs V in {1, 2, 4}) while clipping the outlier least
// (error 36, against 81 and 64 for V = 1 and 2, 111.5 for V = 3 and >= 1000 above 4). With the shift of 1/2
// V = 4 still wins (36, against 87.5 for V = 5 and 111.5 for V = 3).
std::vector<double> outlier_case() {
    std::vector<double> xs(1000, 1.0);
    xs.push_back(10.0);
    return xs;
}

// input [F] -> fc1 (identity) -> relu -> fc2 (F -> F) -> relu -> fc3: two spiking layers.
graph two_layers(int64_t f, uint64_t seed) {
    graph_builder b({f}, 3, seed);
    b.linear("fc1", f, f);
    b.relu("fc1.relu");
    b.linear("fc2", f, f);
    b.relu("fc2.relu");
    b.linear("fc3", f, 3);
    graph g = b.finish("custom");
    g.nodes[g.find("fc1")].params["weight"] = at::eye(f) + 0.2 * at::randn({f, f});
    g.nodes[g.find("fc1")].params["bias"] = at::full({f}, 0.1);
    return g;
}

// The two-layer net converted at T = 4 (and its calibration images), before calibration: the BC and PC tests
// calibrate a copy and compare it with this.
struct two_layer_case {
    graph ref;          // the ANN with BN folded (calibration's reference)
    at::Tensor cal;     // calibration images
    convert_options co; // conversion settings
    graph before;       // the converted, uncalibrated SNN
};

two_layer_case make_two_layer_case(int64_t f, uint64_t seed, bool half_init) {
    at::manual_seed(seed);
    graph ann = two_layers(f, seed);
    two_layer_case c;
    c.cal = at::rand({300, f}) * 1.5;
    record_activation_stats(ann, c.cal);
    c.ref = ann_reference(ann);
    c.co.T = 4;
    c.co.half_init = half_init;
    c.before = convert_to_snn(ann, c.co);
    return c;
}

// Per spike layer (by name): the SNN's output rate over all of x, [N, ...], in one simulation.
std::map<std::string, at::Tensor> snn_layer_rates(const graph & snn, const at::Tensor & x, int64_t T) {
    at::NoGradGuard ng;
    std::map<std::string, at::Tensor> r;
    snn_options so;
    so.T = T;
    so.observer = [&](int, const node & n, const at::Tensor & out) {
        if (n.op == op_kind::spike) {
            r[n.name] = out.mean(0);
        }
    };
    snn_forward(snn, x, so);
    return r;
}

at::Tensor ann_layer(const graph & ann, const std::string & name, const at::Tensor & x) {
    at::NoGradGuard ng;
    forward_options fo;
    fo.stop_at = ann.find(name);
    return ann_forward(ann, x, fo);
}

// Per channel (dim 1) mean of e over every other dim, by explicit loops in double.
std::vector<double> naive_channel_mean(const at::Tensor & e) {
    const at::Tensor d = e.to(at::kDouble).contiguous();
    const int64_t n = d.size(0), c = d.size(1), inner = d.numel() / (n * c);
    const double * p = d.data_ptr<double>();
    std::vector<double> m(c, 0.0);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < c; ++j)
            for (int64_t k = 0; k < inner; ++k) m[j] += p[(i * c + j) * inner + k];
    for (double & v : m) v /= static_cast<double>(n * inner);
    return m;
}

calib_options only(bool bc, bool pc, bool wc) {
    calib_options o;
    o.progress = false;
    o.bias_correction = bc;
    o.potential_correction = pc;
    o.weight_calibration = wc;
    return o;
}

} // namespace

TEST(calib_steps, threshold_search_finds_the_known_minimiser) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(1);
    threshold_search_options o;
    o.grid = 10;
    const std::vector<double> xs = outlier_case();
    const at::Tensor x = at::tensor(xs, at::kDouble).reshape({-1, 1});
    for (double shift : {0.0, 0.5}) {
        o.shift = shift;
        const at::Tensor v = calib_threshold_search(x, at::ones({}, at::kDouble), 4, o, gen);
        EXPECT_EQ(v.dim(), 0);
        EXPECT_DOUBLE_EQ(v.item<double>(), 4.0) << "shift " << shift;
        EXPECT_DOUBLE_EQ(naive_search(xs, 4, 10, shift), 4.0) << "shift " << shift;
    }
    // Per channel: channel 1 holds the same values times 2, so its minimiser is 8.
    o.shift = 0;
    const at::Tensor xc = at::cat({x, 2 * x}, 1); // [1001, 2]
    const at::Tensor vc = calib_threshold_search(xc, at::ones({2}, at::kDouble), 4, o, gen);
    ASSERT_EQ(vc.numel(), 2);
    EXPECT_DOUBLE_EQ(vc[0].item<double>(), 4.0);
    EXPECT_DOUBLE_EQ(vc[1].item<double>(), 8.0);
}

TEST(calib_steps, threshold_search_equals_the_brute_force_argmin) {
    at::manual_seed(5);
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(2);
    for (int64_t T : {2, 5, 16}) {
        for (double shift : {0.0, 0.5}) {
            // a long-tailed, partly negative distribution, as pre-activations are
            const at::Tensor x = (at::randn({3000}, at::kDouble) * 0.7).exp() - 0.6;
            std::vector<double> xs(x.data_ptr<double>(), x.data_ptr<double>() + x.numel());
            threshold_search_options o;
            o.grid = 50;
            o.shift = shift;
            const double v = calib_threshold_search(x.reshape({-1, 1}), at::ones({}, at::kDouble), T, o, gen).item<double>();
            EXPECT_DOUBLE_EQ(v, naive_search(xs, T, 50, shift)) << "T " << T << " shift " << shift;
        }
    }
}

TEST(calib_steps, bias_correction_is_the_channel_mean_of_the_error) {
    at::manual_seed(6);
    for (const std::vector<int64_t> & shape : {std::vector<int64_t>{7, 3, 4, 5}, std::vector<int64_t>{9, 6}}) {
        const at::Tensor a = at::rand(shape, at::kDouble), r = at::rand(shape, at::kDouble);
        const at::Tensor mu = calib_bias_correction(a, r);
        const std::vector<double> want = naive_channel_mean(a - r);
        ASSERT_EQ(mu.numel(), static_cast<int64_t>(want.size()));
        for (size_t c = 0; c < want.size(); ++c) {
            EXPECT_NEAR(mu[c].item<double>(), want[c], 1e-12) << "channel " << c;
        }
    }
    EXPECT_THROW(calib_bias_correction(at::rand({2, 3}), at::rand({2, 4})), snnkit::error);
}

TEST(calib_steps, potential_correction_is_T_times_the_per_neuron_mean_error) {
    at::manual_seed(7);
    const at::Tensor a = at::rand({5, 2, 3, 3}, at::kDouble), r = at::rand({5, 2, 3, 3}, at::kDouble);
    const at::Tensor pc = calib_potential_correction(a, r, 8);
    ASSERT_EQ(pc.sizes(), (std::vector<int64_t>{2, 3, 3}));
    const at::Tensor e = (a - r).contiguous();
    for (int64_t c = 0; c < 2; ++c)
        for (int64_t h = 0; h < 3; ++h)
            for (int64_t w = 0; w < 3; ++w) {
                double s = 0;
                for (int64_t n = 0; n < 5; ++n) s += e[n][c][h][w].item<double>();
                EXPECT_NEAR(pc[c][h][w].item<double>(), 8.0 * s / 5.0, 1e-12);
            }
    // added to a per-channel v(0): each neuron gets its channel's v(0) plus its own correction
    const at::Tensor v0 = at::tensor({0.5, -0.25}, at::kDouble);
    const at::Tensor sum = add_potential_correction(v0, pc);
    EXPECT_NEAR(sum[1][2][0].item<double>(), pc[1][2][0].item<double>() - 0.25, 1e-12);
    EXPECT_TRUE(add_potential_correction(at::Tensor(), pc).equal(pc));
}

// calibrate() with the threshold search on the outlier case picks the known minimiser 4 (no shift, and
// with the bias shift, whose half step the search must model).
TEST(calibrate_steps, threshold_search_in_calibrate_picks_the_known_minimiser) {
    graph_builder b({1}, 1, 0);
    b.linear("fc1", 1, 1);
    b.relu("fc1.relu");
    b.linear("fc2", 1, 1);
    graph ann = b.finish("custom");
    ann.nodes[1].params["weight"] = at::ones({1, 1});
    ann.nodes[1].params["bias"] = at::zeros({1});
    const at::Tensor cal = at::tensor(outlier_case(), at::kFloat).reshape({-1, 1});
    record_activation_stats(ann, cal);
    for (bool shift : {false, true}) {
        convert_options co;
        co.T = 4;
        co.bias_shift = shift;
        graph snn = convert_to_snn(ann, co);
        calib_options o = only(false, false, false);
        o.threshold_search = true;
        o.grid = 10;
        calibrate(snn, ann_reference(ann), cal, co, o);
        EXPECT_NEAR(snn.nodes[snn.find("fc1.relu")].tensor("v_th").item<double>(), 4.0, 1e-6) << "bias shift " << shift;
    }
}

// BC in calibrate(): each layer's bias moves by the channel mean of e measured with the earlier layers
// already calibrated and this layer not yet (reconstructed by undoing this layer's change).
TEST(calibrate_steps, bc_adds_the_channel_mean_error_layer_by_layer) {
    const int64_t f = 6;
    const two_layer_case c = make_two_layer_case(f, 11, false);
    const graph & ref = c.ref;
    const graph & before = c.before;
    const at::Tensor & cal = c.cal;
    const int64_t T = c.co.T;
    graph snn = before.clone();
    calibrate(snn, ref, cal, c.co, only(true, false, false));
    int checked = 0;
    for (const char * layer : {"fc1", "fc2"}) {
        const std::string spike = std::string(layer) + ".relu";
        graph probe = snn.clone(); // earlier layers calibrated, this one (and later ones) as converted
        bool after = false;
        for (const char * l : {"fc1", "fc2"}) {
            after = after || std::string(l) == layer;
            if (after) probe.nodes[probe.find(l)].params["bias"] = before.nodes[before.find(l)].params.at("bias");
        }
        const at::Tensor e = ann_layer(ref, spike, cal) - snn_layer_rates(probe, cal, T).at(spike);
        const std::vector<double> want = naive_channel_mean(e);
        const at::Tensor moved = snn.nodes[snn.find(layer)].params.at("bias") - before.nodes[before.find(layer)].params.at("bias");
        double size = 0;
        for (int64_t c = 0; c < f; ++c) {
            EXPECT_NEAR(moved[c].item<double>(), want[c], 1e-5) << layer << " channel " << c;
            size += std::abs(want[c]);
        }
        EXPECT_GT(size, 1e-3) << layer << ": a correction this small cannot tell a wrong formula apart";
        ++checked;
    }
    EXPECT_EQ(checked, 2);
}

// PC in calibrate(): v(0) gains T * mean_n(e) per neuron, layer by layer, on top of what it held (half-init:
// V_th / 2).
TEST(calibrate_steps, pc_adds_T_times_the_mean_error_per_neuron) {
    const int64_t f = 6;
    const two_layer_case c = make_two_layer_case(f, 12, true);
    const graph & ref = c.ref;
    const graph & before = c.before;
    const at::Tensor & cal = c.cal;
    const int64_t T = c.co.T;
    graph snn = before.clone();
    calibrate(snn, ref, cal, c.co, only(false, true, false));
    for (const char * spike : {"fc1.relu", "fc2.relu"}) {
        graph probe = snn.clone();
        for (const char * l : {"fc1.relu", "fc2.relu"}) {
            if (std::string(l) >= spike) probe.nodes[probe.find(l)].buffers["v0"] = before.nodes[before.find(l)].buffers.at("v0");
        }
        const at::Tensor e = (ann_layer(ref, spike, cal) - snn_layer_rates(probe, cal, T).at(spike)).to(at::kDouble);
        const at::Tensor v0_before = before.nodes[before.find(spike)].tensor("v0").to(at::kDouble);
        const at::Tensor v0_after = snn.nodes[snn.find(spike)].tensor("v0").to(at::kDouble);
        ASSERT_EQ(v0_after.numel(), f) << spike << ": PC is per neuron";
        for (int64_t j = 0; j < f; ++j) {
            double s = 0;
            for (int64_t n = 0; n < e.size(0); ++n) s += e[n][j].item<double>();
            const double want = (v0_before.dim() == 0 ? v0_before.item<double>() : v0_before[j].item<double>()) +
                                static_cast<double>(T) * s / static_cast<double>(e.size(0));
            EXPECT_NEAR(v0_after[j].item<double>(), want, 1e-4) << spike << " neuron " << j;
        }
    }
}

// WC on a layer whose SNN weights are 40 % too small (the ANN's are right): the held-out error of the layer
// must fall well below where it starts. A WC that does nothing (or fits nothing) keeps it where it was.
TEST(calibrate_steps, wc_lowers_a_held_out_error_it_starts_measurably_wrong_on) {
    const int64_t f = 8, T = 8;
    at::manual_seed(13);
    graph_builder b({f}, 2, 13);
    b.linear("fc1", f, f);
    b.relu("fc1.relu");
    b.linear("fc2", f, 2);
    graph ann = b.finish("custom");
    ann.nodes[1].params["weight"] = at::eye(f) + 0.1 * at::randn({f, f});
    ann.nodes[1].params["bias"] = at::zeros({f});
    const at::Tensor cal = at::rand({512, f}) * 2.0, held = at::rand({512, f}) * 2.0;
    record_activation_stats(ann, cal);
    const graph ref = ann_reference(ann);
    convert_options co;
    co.T = T;
    co.half_init = true;
    graph snn = convert_to_snn(ann, co);
    node & fc1 = snn.nodes[snn.find("fc1")];
    fc1.params["weight"] = fc1.params.at("weight") * 0.6;
    const auto held_error = [&](const graph & g) {
        return (ann_layer(ref, "fc1.relu", held) - snn_layer_rates(g, held, T).at("fc1.relu")).pow(2).mean().item<double>();
    };
    const double e0 = held_error(snn);
    calib_options o = only(false, false, true);
    o.wc_iters = 300;
    o.wc_lr = 1e-2;
    calibrate(snn, ref, cal, co, o);
    const double e1 = held_error(snn);
    EXPECT_GT(e0, 0.05) << "the case must start measurably wrong";
    EXPECT_LT(e1, 0.25 * e0) << "held-out error " << e0 << " -> " << e1;
}
