// The fused neuron against the per-step ATen reference: spikes and final v bit-exact (float32 and float64),
// gradients of x and v0 within 1e-6 relative in float64 (float32 rounding differs between the two op orders,
// so float32 gradients are checked only to 1e-4). Also: single-step API == multi-step, the integrator.
#include "snnkit/neuron/neuron.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

namespace {

using snnkit::neuron_options;
using snnkit::reset_mode;
using snnkit::surrogate_kind;

enum class v0_form { none, scalar, channel, neuron };

struct outputs {
    at::Tensor spikes, v, gx, gv0;
};

// Runs fused or reference forward + backward of L = sum(spikes * ws) + sum(v * wv) (ws/wv undefined: term off).
outputs run(bool fused, const at::Tensor & x_in, const at::Tensor & vth, const at::Tensor & v0_in,
            const neuron_options & opt, const at::Tensor & ws, const at::Tensor & wv) {
    const at::Tensor x = x_in.detach().clone().requires_grad_(true);
    const at::Tensor v0 = v0_in.defined() ? v0_in.detach().clone().requires_grad_(true) : at::Tensor();
    const snnkit::neuron_result r =
        fused ? snnkit::neuron_forward(x, vth, v0, opt) : snnkit::neuron_forward_reference(x, vth, v0, opt);
    at::Tensor loss = at::zeros({}, x.options());
    if (ws.defined()) loss = loss + (r.spikes * ws).sum();
    if (wv.defined()) loss = loss + (r.v * wv).sum();
    loss.backward();
    return {r.spikes.detach(), r.v.detach(), x.grad(), v0.defined() ? v0.grad() : at::Tensor()};
}

// max |a - b| / max |b| (0 when both are all zeros)
double rel_err(const at::Tensor & a, const at::Tensor & b) {
    const double den = b.abs().max().item<double>();
    const double num = (a - b).abs().max().item<double>();
    return den == 0 ? num : num / den;
}

struct inputs {
    at::Tensor x, vth, v0;
};

inputs make_inputs(at::IntArrayRef shape, bool vth_channel, v0_form v0, at::ScalarType dtype, uint64_t seed) {
    at::manual_seed(seed);
    const auto o = at::TensorOptions().dtype(dtype);
    inputs in;
    in.x = at::randn(shape, o) * 0.7 + 0.35;
    const int64_t C = shape.size() >= 3 ? shape[2] : 1;
    in.vth = vth_channel ? at::rand({C}, o) + 0.5 : at::scalar_tensor(0.9, o);
    switch (v0) {
    case v0_form::none: break;
    case v0_form::scalar: in.v0 = at::scalar_tensor(0.3, o); break;
    case v0_form::channel: in.v0 = at::rand({C}, o) * 0.6; break;
    case v0_form::neuron: in.v0 = at::randn(shape.slice(1), o) * 0.5; break;
    }
    return in;
}

// Checks one configuration on one shape: float32 exact forward, float64 exact forward + 1e-6 gradients.
void check_config(at::IntArrayRef shape, const neuron_options & opt, bool vth_channel, v0_form v0) {
    at::set_num_threads(2);
    for (auto dtype : {at::kFloat, at::kDouble}) {
        SCOPED_TRACE(dtype == at::kFloat ? "float32" : "float64");
        const inputs in = make_inputs(shape, vth_channel, v0, dtype, 7);
        const at::Tensor ws = at::randn(shape, in.x.options());
        const at::Tensor wv = at::randn(shape.slice(1), in.x.options());
        const outputs f = run(true, in.x, in.vth, in.v0, opt, ws, wv);
        const outputs r = run(false, in.x, in.vth, in.v0, opt, ws, wv);
        ASSERT_TRUE(at::equal(f.spikes, r.spikes)) << "spikes differ in " << (f.spikes != r.spikes).sum().item<int64_t>()
                                                   << " of " << f.spikes.numel();
        ASSERT_TRUE(at::equal(f.v, r.v)) << "final v differs, max " << (f.v - r.v).abs().max().item<double>();
        const double rate = (f.spikes != 0).to(at::kDouble).mean().item<double>();
        EXPECT_GT(rate, 0.02);
        EXPECT_LT(rate, 0.98);
        const double tol = dtype == at::kDouble ? 1e-6 : 1e-4;
        EXPECT_LT(rel_err(f.gx, r.gx), tol);
        if (dtype == at::kDouble) EXPECT_TRUE(at::allclose(f.gx, r.gx, 1e-6, 1e-12));
        if (v0 != v0_form::none) {
            ASSERT_TRUE(f.gv0.defined());
            ASSERT_EQ(f.gv0.sizes(), in.v0.sizes());
            EXPECT_LT(rel_err(f.gv0, r.gv0), tol);
            if (dtype == at::kDouble) EXPECT_TRUE(at::allclose(f.gv0, r.gv0, 1e-6, 1e-12));
        }
    }
}

// ---- Sweep: alpha x reset x detach x V_th form x v0 form (atan surrogate) ----

using sweep_param = std::tuple<double, reset_mode, bool, bool, v0_form>;

class NeuronSweep : public ::testing::TestWithParam<sweep_param> {};

neuron_options sweep_options(const sweep_param & p) {
    neuron_options opt;
    opt.alpha = std::get<0>(p);
    opt.reset = std::get<1>(p);
    opt.detach_reset = std::get<2>(p);
    return opt;
}

TEST_P(NeuronSweep, FusedMatchesReference) {
    const auto & p = GetParam();
    const neuron_options opt = sweep_options(p);
    {
        // M = 3 * 7 * 23 * 19 = 9177 neurons: more than one block in forward (8192) and backward, the last ragged
        SCOPED_TRACE("x [5, 3, 7, 23, 19]");
        check_config({5, 3, 7, 23, 19}, opt, std::get<3>(p), std::get<4>(p));
    }
    {
        SCOPED_TRACE("x [1, 3, 7, 5, 3] (T = 1)");
        check_config({1, 3, 7, 5, 3}, opt, std::get<3>(p), std::get<4>(p));
    }
    {
        SCOPED_TRACE("x [6, 5, 37] ([T, N, F]: C = F, S = 1)");
        check_config({6, 5, 37}, opt, std::get<3>(p), std::get<4>(p));
    }
}

std::string sweep_name(const ::testing::TestParamInfo<sweep_param> & info) {
    const auto & p = info.param;
    static const char * v0_names[] = {"v0none", "v0scalar", "v0channel", "v0neuron"};
    return std::string(std::get<0>(p) == 1.0 ? "IF" : "LIF") + (std::get<1>(p) == reset_mode::soft ? "_soft" : "_hard") +
           (std::get<2>(p) ? "_detach" : "") + (std::get<3>(p) ? "_vthC" : "_vthS") + "_" +
           v0_names[static_cast<int>(std::get<4>(p))];
}

INSTANTIATE_TEST_SUITE_P(All, NeuronSweep,
                         ::testing::Combine(::testing::Values(1.0, 0.5),
                                            ::testing::Values(reset_mode::soft, reset_mode::hard),
                                            ::testing::Bool(), ::testing::Bool(),
                                            ::testing::Values(v0_form::none, v0_form::scalar, v0_form::channel,
                                                              v0_form::neuron)),
                         sweep_name);

// ---- Every surrogate x spike value x reset (each also with detach_reset) ----

using surrogate_param_t = std::tuple<surrogate_kind, bool, reset_mode>;

class NeuronSurrogates : public ::testing::TestWithParam<surrogate_param_t> {};

TEST_P(NeuronSurrogates, FusedMatchesReference) {
    neuron_options opt;
    opt.alpha = 0.5;
    opt.surrogate.kind = std::get<0>(GetParam());
    opt.spike_vth = std::get<1>(GetParam());
    opt.reset = std::get<2>(GetParam());
    check_config({4, 3, 6, 9, 7}, opt, true, v0_form::neuron);
    opt.surrogate.param = 0.8; // a non-default shape too
    opt.surrogate.width = 1.3;
    check_config({4, 3, 6, 9, 7}, opt, false, v0_form::scalar);
    opt.detach_reset = true; // no gradient through the reset, with this surrogate and spike value
    check_config({4, 3, 6, 9, 7}, opt, true, v0_form::channel);
}

INSTANTIATE_TEST_SUITE_P(All, NeuronSurrogates,
                         ::testing::Combine(::testing::Values(surrogate_kind::rect, surrogate_kind::triangle,
                                                              surrogate_kind::exp, surrogate_kind::sigmoid,
                                                              surrogate_kind::atan, surrogate_kind::dspike),
                                            ::testing::Bool(), ::testing::Values(reset_mode::soft, reset_mode::hard)),
                         [](const ::testing::TestParamInfo<surrogate_param_t> & info) {
                             return snnkit::surrogate_to_string(std::get<0>(info.param)) +
                                    (std::get<1>(info.param) ? "_spikeVth" : "_spike1") +
                                    (std::get<2>(info.param) == reset_mode::soft ? "_soft" : "_hard");
                         });

// ---- Other shapes and gradient paths ----

TEST(Neuron, TwoDimensionalScalarThreshold) {
    neuron_options opt;
    opt.alpha = 0.5;
    check_config({6, 1001}, opt, false, v0_form::neuron);
    check_config({6, 1001}, opt, false, v0_form::scalar);
}

TEST(Neuron, LargeOutputsWithStreamingStores) {
    // >= 16 MiB per output switches the kernel to non-temporal stores; M = 2108415 is odd, so every step's
    // row starts misaligned and the unaligned head / tail paths run too.
    at::set_num_threads(2);
    neuron_options opt;
    opt.alpha = 0.5;
    const inputs in = make_inputs({2, 3, 5, 383, 367}, true, v0_form::channel, at::kFloat, 13);
    const at::Tensor ws = at::randn({2, 3, 5, 383, 367});
    const outputs f = run(true, in.x, in.vth, in.v0, opt, ws, at::Tensor());
    const outputs r = run(false, in.x, in.vth, in.v0, opt, ws, at::Tensor());
    EXPECT_TRUE(at::equal(f.spikes, r.spikes));
    EXPECT_TRUE(at::equal(f.v, r.v));
    EXPECT_LT(rel_err(f.gx, r.gx), 1e-5);
    EXPECT_LT(rel_err(f.gv0, r.gv0), 1e-4);
}

TEST(Neuron, GradientThroughOnlyOneOutput) {
    at::set_num_threads(2);
    neuron_options opt;
    opt.alpha = 0.5;
    opt.reset = reset_mode::hard;
    const inputs in = make_inputs({5, 2, 3, 17}, true, v0_form::neuron, at::kDouble, 3);
    const at::Tensor ws = at::randn({5, 2, 3, 17}, at::kDouble);
    const at::Tensor wv = at::randn({2, 3, 17}, at::kDouble);
    for (int which = 0; which < 2; ++which) {
        const at::Tensor a = which == 0 ? ws : at::Tensor();
        const at::Tensor b = which == 1 ? wv : at::Tensor();
        const outputs f = run(true, in.x, in.vth, in.v0, opt, a, b);
        const outputs r = run(false, in.x, in.vth, in.v0, opt, a, b);
        EXPECT_TRUE(at::allclose(f.gx, r.gx, 1e-6, 1e-12)) << "which " << which;
        EXPECT_TRUE(at::allclose(f.gv0, r.gv0, 1e-6, 1e-12)) << "which " << which;
    }
}

TEST(Neuron, GradientToV0Only) {
    // x without grad, v0 with: only the initial state is trained (e.g. a learned v0)
    neuron_options opt;
    opt.alpha = 0.5;
    const inputs in = make_inputs({4, 2, 3, 5}, true, v0_form::channel, at::kDouble, 17);
    at::Tensor grads[2];
    for (int fused = 0; fused < 2; ++fused) {
        const at::Tensor v0 = in.v0.clone().requires_grad_(true);
        const snnkit::neuron_result r = fused ? snnkit::neuron_forward(in.x, in.vth, v0, opt)
                                              : snnkit::neuron_forward_reference(in.x, in.vth, v0, opt);
        ASSERT_TRUE(r.spikes.requires_grad());
        (r.spikes.sum() + r.v.pow(2).sum()).backward();
        grads[fused] = v0.grad();
    }
    EXPECT_TRUE(at::allclose(grads[1], grads[0], 1e-6, 1e-12));
}

TEST(Neuron, ThreadCountDoesNotChangeResults) {
    neuron_options opt;
    opt.alpha = 0.5;
    const inputs in = make_inputs({6, 4, 8, 31, 9}, true, v0_form::channel, at::kFloat, 11);
    const at::Tensor ws = at::randn({6, 4, 8, 31, 9});
    at::set_num_threads(1);
    const outputs one = run(true, in.x, in.vth, in.v0, opt, ws, at::Tensor());
    at::set_num_threads(2);
    const outputs two = run(true, in.x, in.vth, in.v0, opt, ws, at::Tensor());
    EXPECT_TRUE(at::equal(one.spikes, two.spikes));
    EXPECT_TRUE(at::equal(one.gx, two.gx));
    EXPECT_TRUE(at::equal(one.gv0, two.gv0));
}

TEST(Neuron, NoGradModeAndSpikeValues) {
    neuron_options opt;
    opt.spike_vth = true;
    const at::Tensor x = at::full({3, 2, 4}, 0.6);
    const at::Tensor vth = at::tensor({1.0, 0.5, 2.0, 0.25}, at::kFloat);
    const snnkit::neuron_result r = snnkit::neuron_forward(x, vth, at::Tensor(), opt);
    EXPECT_FALSE(r.spikes.requires_grad());
    // channel 1 (V_th 0.5): v 0.6 -> spike 0.5, v 0.1; 0.7 -> spike, v 0.2; 0.8 -> spike, v 0.3
    EXPECT_FLOAT_EQ(r.spikes[0][1][1].item<float>(), 0.5f);
    EXPECT_FLOAT_EQ(r.spikes[2][1][1].item<float>(), 0.5f);
    EXPECT_NEAR(r.v[1][1].item<float>(), 0.3f, 1e-6);
    // channel 0 (V_th 1): 0.6, 1.2 -> spike (v 0.2), 0.8
    EXPECT_FLOAT_EQ(r.spikes[0][0][0].item<float>(), 0.0f);
    EXPECT_FLOAT_EQ(r.spikes[1][0][0].item<float>(), 1.0f);
    EXPECT_NEAR(r.v[0][0].item<float>(), 0.8f, 1e-6);
    // channel 3 (V_th 0.25): spikes every step
    EXPECT_EQ(r.spikes.select(2, 3).eq(0.25f).all().item<bool>(), true);
}

// ---- Single step == multi-step ----

TEST(NeuronStep, StepLoopMatchesMultiStep) {
    at::set_num_threads(2);
    for (reset_mode reset : {reset_mode::soft, reset_mode::hard}) {
        neuron_options opt;
        opt.alpha = 0.5;
        opt.reset = reset;
        const inputs in = make_inputs({7, 3, 5, 6, 7}, true, v0_form::neuron, at::kDouble, 5);
        const at::Tensor ws = at::randn({7, 3, 5, 6, 7}, at::kDouble);
        const at::Tensor wv = at::randn({3, 5, 6, 7}, at::kDouble);
        const outputs multi = run(true, in.x, in.vth, in.v0, opt, ws, wv);

        const at::Tensor x = in.x.clone().requires_grad_(true);
        const at::Tensor v0 = in.v0.clone().requires_grad_(true);
        at::Tensor v = v0;
        std::vector<at::Tensor> spikes;
        for (int64_t t = 0; t < x.size(0); ++t) {
            snnkit::neuron_result r = snnkit::neuron_step(x[t], in.vth, v, opt);
            ASSERT_EQ(r.spikes.sizes(), x[t].sizes());
            spikes.push_back(r.spikes);
            v = r.v;
        }
        const at::Tensor s = at::stack(spikes);
        ((s * ws).sum() + (v * wv).sum()).backward();
        EXPECT_TRUE(at::equal(s.detach(), multi.spikes));
        EXPECT_TRUE(at::equal(v.detach(), multi.v));
        EXPECT_TRUE(at::allclose(x.grad(), multi.gx, 1e-6, 1e-12));
        EXPECT_TRUE(at::allclose(v0.grad(), multi.gv0, 1e-6, 1e-12));
    }
}

TEST(NeuronStep, UndefinedStateIsZeros) {
    const at::Tensor x = at::randn({4, 9});
    const snnkit::neuron_result a = snnkit::neuron_step(x, at::scalar_tensor(0.5), at::Tensor(), {});
    const snnkit::neuron_result b = snnkit::neuron_step(x, at::scalar_tensor(0.5), at::zeros({4, 9}), {});
    EXPECT_TRUE(at::equal(a.spikes, b.spikes));
    EXPECT_TRUE(at::equal(a.v, b.v));
}

// ---- Integrator ----

TEST(Integrator, LeakyAccumulationAndGradient) {
    const at::Tensor x = at::randn({5, 3, 4}, at::kDouble).requires_grad_(true);
    const at::Tensor v0 = at::randn({4}, at::kDouble).requires_grad_(true);
    const at::Tensor out = snnkit::integrator_forward(x, 0.5, v0);
    ASSERT_EQ(out.sizes(), x.sizes());
    at::Tensor v = v0.detach().expand({3, 4});
    for (int64_t t = 0; t < 5; ++t) {
        v = 0.5 * v + x[t].detach();
        EXPECT_TRUE(at::allclose(out[t], v, 1e-12, 1e-12)) << "t = " << t;
    }
    out.sum().backward();
    // d sum / d x_t = sum_{k >= t} 0.5^{k - t}
    for (int64_t t = 0; t < 5; ++t) {
        double g = 0;
        for (int64_t k = t; k < 5; ++k) g += std::pow(0.5, static_cast<double>(k - t));
        EXPECT_NEAR(x.grad()[t][0][0].item<double>(), g, 1e-12);
    }
    EXPECT_EQ(v0.grad().sizes(), v0.sizes());
}

} // namespace
