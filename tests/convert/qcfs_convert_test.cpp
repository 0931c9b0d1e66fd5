// Conversion of QCFS-trained layers (V_th = lambda, v(0) = V_th/2, soft reset) against the closed form: for a
// constant input the spike count after T = L steps is L * a / lambda exactly, and for T != L the measured
// rates are the clip-floor-shift analysis clipfloor(z, T, lambda, 1/2) with its expected error over a uniform
// input (0 with the shift, -lambda / (2T) without it).
#include "snnkit/convert/calib_steps.h"
#include "snnkit/convert/calibrate.h"
#include "snnkit/convert/clipfloor.h"
#include "snnkit/convert/convert.h"
#include "snnkit/core/error.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/qcfs.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace snnkit;

namespace {

// input [F] -> linear (identity, bias 0) -> qcfs(lambda, L) -> linear: the spiking layer sees x at every step.
graph one_qcfs_layer(int64_t f, double lambda, int64_t L) {
    graph_builder b({f}, 2, 0);
    b.linear("fc1", f, f);
    b.qcfs("fc1.relu", L, lambda);
    b.linear("fc2", f, 2);
    graph g = b.finish("custom");
    g.nodes[1].params["weight"] = at::eye(f);
    g.nodes[1].params["bias"] = at::zeros({f});
    return g;
}

// Spike counts [N, F] of the first spike node over T steps (its output is spikes * V_th).
at::Tensor spike_counts(const graph & snn, const at::Tensor & x, int64_t T) {
    at::Tensor count;
    snn_options so;
    so.T = T;
    so.observer = [&](int, const node & n, const at::Tensor & out) {
        if (n.op == op_kind::spike && !count.defined()) {
            count = (out / n.tensor("v_th")).sum(0);
        }
    };
    at::NoGradGuard ng;
    snn_forward(snn, x, so);
    return count;
}

// Inputs z in [lo, hi) * lambda whose T z / lambda + 1/2 is not within 1e-3 of an integer (the floor's
// steps, where float accumulation over T steps may land on either side).
at::Tensor inputs_off_steps(int64_t n, double lo, double hi, double lambda, const std::vector<int64_t> & Ts) {
    at::manual_seed(11);
    at::Tensor z = (at::rand({n}, at::kDouble) * (hi - lo) + lo) * lambda;
    for (int64_t T : Ts) {
        const at::Tensor y = z * static_cast<double>(T) / lambda + 0.5;
        const at::Tensor fr = y - at::floor(y);
        z = z.index({at::logical_and(fr > 1e-3, fr < 1 - 1e-3)});
    }
    return z.to(at::kFloat);
}

} // namespace

TEST(QcfsConvert, NeuronIsIfWithLambdaThresholdHalfInitSoftReset) {
    const graph ann = one_qcfs_layer(5, 1.6, 4);
    const graph snn = convert_to_snn(ann, convert_options{});
    const node & s = snn.nodes[2];
    ASSERT_EQ(s.op, op_kind::spike);
    EXPECT_FLOAT_EQ(s.tensor("v_th").item<float>(), 1.6f);
    EXPECT_FLOAT_EQ(s.tensor("v0").item<float>(), 0.8f);
    EXPECT_EQ(s.attrs.neuron.reset, reset_mode::soft);
    EXPECT_EQ(s.attrs.neuron.alpha, 1.0);
    EXPECT_TRUE(s.attrs.neuron.spike_vth);
    EXPECT_TRUE(s.params.empty()); // lambda is the threshold now, no longer a parameter
    convert_options half;
    half.half_init = true; // the same shift: no change
    EXPECT_TRUE(at::equal(convert_to_snn(ann, half).nodes[2].tensor("v0"), s.tensor("v0")));
}

TEST(QcfsConvert, SpikeCountAfterLStepsIsLTimesActivationOverLambda) {
    for (int64_t L : {1, 2, 4, 8}) {
        const double lambda = 1.37;
        const at::Tensor z = inputs_off_steps(3000, -0.6, 1.6, lambda, {L});
        const int64_t f = z.numel();
        const graph ann = one_qcfs_layer(f, lambda, L);
        const graph snn = convert_to_snn(ann, convert_options{});
        const at::Tensor x = z.reshape({1, f});
        at::Tensor a;
        {
            at::NoGradGuard ng;
            a = qcfs_activation(x, ann.nodes[2].tensor("lambda"), L);
        }
        const at::Tensor count = spike_counts(snn, x, L);
        const at::Tensor want = a * static_cast<double>(L) / lambda;
        // both are integers (up to float rounding of the division) and equal
        EXPECT_LT((count - at::round(count)).abs().max().item<double>(), 1e-4) << "L " << L;
        EXPECT_LT((want - at::round(want)).abs().max().item<double>(), 1e-4) << "L " << L;
        EXPECT_TRUE(at::equal(at::round(count), at::round(want))) << "L " << L;
    }
}

TEST(QcfsConvert, OtherTMatchesTheClipFloorShiftAnalysis) {
    const int64_t L = 4;
    const double lambda = 0.9;
    for (int64_t T : {1, 2, 3, 6, 8, 16}) {
        // per neuron: the count is clamp(floor(T z / lambda + 1/2), 0, T), i.e. the rate clipfloor(z, T, lambda, 1/2)
        const at::Tensor z = inputs_off_steps(2000, -0.5, 1.5, lambda, {T});
        const int64_t f = z.numel();
        const graph snn = convert_to_snn(one_qcfs_layer(f, lambda, L), convert_options{});
        const at::Tensor x = z.reshape({1, f});
        const at::Tensor lam = at::full({}, lambda, at::kFloat);
        const at::Tensor rate = spike_counts(snn, x, T) * lambda / static_cast<double>(T);
        EXPECT_LT((rate - clipfloor(x, T, lam, 0.5)).abs().max().item<double>(), 1e-5) << "T " << T;

        // Over a uniform input in [0, lambda] (midpoints of a fine grid) the expected error rate - a is 0 with
        // the shift, and -lambda / (2T) without it (v(0) = 0): E[floor(T u)] = (T - 1)/2, E[round(L u)] = L/2.
        const int64_t n = 4096;
        const at::Tensor u = (at::arange(n, at::kDouble) + 0.5) / static_cast<double>(n) * lambda;
        const at::Tensor xu = u.to(at::kFloat).reshape({1, n});
        graph g = convert_to_snn(one_qcfs_layer(n, lambda, L), convert_options{});
        at::Tensor a;
        {
            at::NoGradGuard ng;
            a = qcfs_activation(xu, lam, L).to(at::kDouble);
        }
        const double err = (spike_counts(g, xu, T).to(at::kDouble) * lambda / double(T) - a).mean().item<double>();
        EXPECT_NEAR(err, 0.0, 2e-3 * lambda) << "T " << T;
        g.nodes[2].buffers["v0"] = at::zeros({});
        const double err0 = (spike_counts(g, xu, T).to(at::kDouble) * lambda / double(T) - a).mean().item<double>();
        EXPECT_NEAR(err0, -lambda / (2.0 * double(T)), 2e-3 * lambda) << "T " << T;
    }
}

TEST(QcfsConvert, RefusesWhatDoesNotFit) {
    const graph ann = one_qcfs_layer(3, 1.0, 4);
    convert_options o;
    o.bias_shift = true; // a second half step
    EXPECT_THROW(convert_to_snn(ann, o), snnkit::error);
    o = convert_options{};
    o.threshold = "p99.9"; // the threshold is lambda
    EXPECT_THROW(convert_to_snn(ann, o), snnkit::error);
    o = convert_options{};
    o.channel_wise = true;
    EXPECT_THROW(convert_to_snn(ann, o), snnkit::error);
    // a ReLU beside QCFS layers
    graph_builder b({3}, 2, 0);
    b.linear("fc1", 3, 3);
    b.qcfs("fc1.relu", 4, 1.0);
    b.linear("fc2", 3, 3);
    b.relu("fc2.relu");
    b.linear("fc3", 3, 2);
    EXPECT_THROW(convert_to_snn(b.finish("custom"), convert_options{}), snnkit::error);
}

TEST(QcfsConvert, ThresholdSearchTargetsTheClipAtLambda) {
    // calibrate()'s search on a QCFS layer = calib_threshold_search with clip lambda and the half-step shift.
    const double lambda = 0.7;
    const int64_t T = 3;
    const int64_t f = 64;
    const graph ann = one_qcfs_layer(f, lambda, 4);
    convert_options co;
    co.T = T;
    co.half_init = true;
    graph snn = convert_to_snn(ann, co);
    at::manual_seed(5);
    const at::Tensor x = at::randn({40, f}) * 0.6 + 0.2;
    calib_options cal;
    cal.threshold_search = true;
    cal.progress = false;
    calibrate(snn, ann_reference(ann), x, co, cal);
    threshold_search_options so;
    so.clip = lambda;
    so.shift = 0.5;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
    const at::Tensor want = calib_threshold_search(x, at::full({}, lambda), T, so, gen);
    EXPECT_FLOAT_EQ(snn.nodes[2].tensor("v_th").item<float>(), want.item<float>());
    EXPECT_FLOAT_EQ(snn.nodes[2].tensor("v0").item<float>(), want.item<float>() * 0.5f); // v(0) = V_th/2 kept
    // and it differs from the search against the unclipped ReLU (the clip matters on this data)
    so.clip = 0;
    EXPECT_NE(calib_threshold_search(x, at::full({}, lambda), T, so, gen).item<float>(), want.item<float>());
}
