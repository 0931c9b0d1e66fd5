// The learnable leak factor (PLIF): dL/dalpha from the fused kernel against (1) autograd of the per-step ATen
// reference with alpha as a tensor (float64, every surrogate, soft and hard reset, with and without
// detach_reset, several v0 forms) and (2) a central finite difference of L in alpha where the surrogate
// plays no part: with detach_reset the backward uses only the true (almost everywhere) derivatives, so for a
// perturbation that flips no spike L(alpha) is smooth and its derivative is the kernel's gradient exactly.
#include "snnkit/neuron/neuron.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <string>

namespace {

using snnkit::neuron_options;
using snnkit::reset_mode;
using snnkit::surrogate_kind;

struct alpha_run {
    at::Tensor spikes, v, gx, ga;
};

// L = sum(spikes * ws) + sum(v * wv) through the fused kernel or the reference, alpha a leaf tensor.
alpha_run run_alpha(bool fused, const at::Tensor & x_in, const at::Tensor & vth, const at::Tensor & v0,
                    double alpha, const neuron_options & opt, const at::Tensor & ws, const at::Tensor & wv) {
    const at::Tensor x = x_in.detach().clone().requires_grad_(true);
    const at::Tensor a = at::scalar_tensor(alpha, x.options()).requires_grad_(true);
    const snnkit::neuron_result r = fused ? snnkit::neuron_forward(x, vth, v0, a, opt)
                                          : snnkit::neuron_forward_reference(x, vth, v0, a, opt);
    ((r.spikes * ws).sum() + (r.v * wv).sum()).backward();
    return {r.spikes.detach(), r.v.detach(), x.grad(), a.grad()};
}

TEST(NeuronAlpha, GradientMatchesReferenceAutograd) {
    at::set_num_threads(2);
    at::manual_seed(3);
    const auto o = at::TensorOptions().dtype(at::kDouble);
    const at::Tensor x = at::randn({6, 3, 5, 67}, o) * 0.7 + 0.35; // M = 1005 neurons
    const at::Tensor ws = at::randn(x.sizes(), o);
    const at::Tensor wv = at::randn(x.sizes().slice(1), o);
    const at::Tensor v0s[] = {at::Tensor(), at::scalar_tensor(0.2, o), at::randn(x.sizes().slice(1), o) * 0.5};
    for (auto kind : {surrogate_kind::rect, surrogate_kind::triangle, surrogate_kind::exp, surrogate_kind::sigmoid,
                      surrogate_kind::atan, surrogate_kind::dspike}) {
        for (auto reset : {reset_mode::soft, reset_mode::hard}) {
            for (bool detach : {false, true}) {
                for (const at::Tensor & v0 : v0s) {
                    neuron_options opt;
                    opt.surrogate.kind = kind;
                    opt.reset = reset;
                    opt.detach_reset = detach;
                    SCOPED_TRACE(snnkit::surrogate_to_string(kind) + (reset == reset_mode::soft ? " soft" : " hard") +
                                 (detach ? " detach" : "") + (v0.defined() ? " v0" : ""));
                    const alpha_run f = run_alpha(true, x, at::scalar_tensor(0.9, o), v0, 0.7, opt, ws, wv);
                    const alpha_run r = run_alpha(false, x, at::scalar_tensor(0.9, o), v0, 0.7, opt, ws, wv);
                    ASSERT_TRUE(at::equal(f.spikes, r.spikes));
                    ASSERT_TRUE(at::equal(f.v, r.v));
                    ASSERT_TRUE(f.ga.defined());
                    ASSERT_EQ(f.ga.dim(), 0);
                    const double gf = f.ga.item<double>();
                    const double gr = r.ga.item<double>();
                    EXPECT_NEAR(gf, gr, 1e-9 * std::max(1.0, std::abs(gr)));
                    EXPECT_GT(std::abs(gr), 1e-3); // the term is really exercised
                    EXPECT_TRUE(at::allclose(f.gx, r.gx, 1e-6, 1e-12));
                }
            }
        }
    }
}

TEST(NeuronAlpha, GradientMatchesFiniteDifference) {
    at::set_num_threads(2);
    at::manual_seed(11);
    const auto o = at::TensorOptions().dtype(at::kDouble);
    const at::Tensor x = at::randn({8, 4, 300}, o) * 0.6 + 0.3;
    const at::Tensor wv = at::randn({4, 300}, o);
    const at::Tensor v0 = at::randn({4, 300}, o) * 0.4;
    const at::Tensor vth = at::scalar_tensor(1.0, o);
    for (auto reset : {reset_mode::soft, reset_mode::hard}) {
        SCOPED_TRACE(reset == reset_mode::soft ? "soft" : "hard");
        neuron_options opt;
        opt.reset = reset;
        opt.detach_reset = true;
        const double alpha = 0.8;
        const double h = 1e-7;
        const auto loss = [&](double a) {
            const snnkit::neuron_result r = snnkit::neuron_forward(x, vth, v0, at::scalar_tensor(a, o), opt);
            return std::make_pair((r.v * wv).sum().item<double>(), r.spikes);
        };
        const auto lp = loss(alpha + h);
        const auto lm = loss(alpha - h);
        ASSERT_TRUE(at::equal(lp.second, lm.second)) << "the perturbation flipped a spike: choose another h";
        const double fd = (lp.first - lm.first) / (2 * h);
        const at::Tensor zero_ws = at::zeros(x.sizes(), o);
        const alpha_run f = run_alpha(true, x, vth, v0, alpha, opt, zero_ws, wv);
        EXPECT_NEAR(f.ga.item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd)));
        EXPECT_GT(std::abs(fd), 1e-2);
        const double rate = (f.spikes != 0).to(at::kDouble).mean().item<double>();
        EXPECT_GT(rate, 0.05); // resets happen, so v_t != the leak-only potential
    }
}

TEST(NeuronAlpha, TensorAlphaWithoutGradIsTheDoubleForm) {
    at::manual_seed(5);
    const at::Tensor x = at::randn({4, 2, 33}) + 0.4;
    neuron_options opt;
    opt.alpha = 0.6;
    const snnkit::neuron_result a = snnkit::neuron_forward(x, at::scalar_tensor(1.0), at::Tensor(), opt);
    opt.alpha = 0.1; // replaced by the tensor's value
    const snnkit::neuron_result b = snnkit::neuron_forward(x, at::scalar_tensor(1.0), at::Tensor(),
                                                           at::scalar_tensor(0.6), opt);
    EXPECT_TRUE(at::equal(a.spikes, b.spikes));
    EXPECT_TRUE(at::equal(a.v, b.v));
    EXPECT_THROW(snnkit::neuron_forward(x, at::scalar_tensor(1.0), at::Tensor(), at::ones({2}), opt),
                 std::exception);
}

TEST(NeuronAlpha, ThreadCountDoesNotChangeTheGradient) {
    at::manual_seed(9);
    const at::Tensor x = at::randn({5, 8, 4000}) * 0.7 + 0.35;
    const at::Tensor ws = at::randn(x.sizes());
    const at::Tensor wv = at::randn({8, 4000});
    neuron_options opt;
    at::set_num_threads(1);
    const alpha_run one = run_alpha(true, x, at::scalar_tensor(1.0), at::Tensor(), 0.75, opt, ws, wv);
    at::set_num_threads(2);
    const alpha_run two = run_alpha(true, x, at::scalar_tensor(1.0), at::Tensor(), 0.75, opt, ws, wv);
    EXPECT_EQ(one.ga.item<float>(), two.ga.item<float>());
}

} // namespace
