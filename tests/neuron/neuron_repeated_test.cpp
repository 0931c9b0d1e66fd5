// The neuron on an input repeated at every step (neuron_forward_repeated: one step [N, ...] read T times)
// against the same neuron on that step expanded to [T, N, ...] and copied: spikes and final v bit-equal; the
// step's gradient (the sum of the T steps' gradients), v0's and alpha's within rounding (the two sum the steps
// in different orders). Float32 and float64, soft and hard reset, detach_reset, V_th and v0 forms, a learnable
// alpha, spikes of value V_th, and sizes that leave partial blocks.
#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace {

using snnkit::neuron_options;
using snnkit::reset_mode;
using snnkit::surrogate_kind;

struct grads {
    at::Tensor spikes, v, gx, gv0, ga;
};

// L = sum(spikes * ws) + sum(v * wv), x_step [N, ...] repeated over T: by neuron_forward_repeated (repeated =
// true) or by neuron_forward on the expanded, copied input.
grads run(bool repeated, const at::Tensor & x_step, int64_t T, const at::Tensor & vth, const at::Tensor & v0_in,
          double alpha, const neuron_options & opt, const at::Tensor & ws, const at::Tensor & wv) {
    const at::Tensor x = x_step.detach().clone().requires_grad_(true);
    const at::Tensor v0 = v0_in.defined() ? v0_in.detach().clone().requires_grad_(true) : at::Tensor();
    const at::Tensor a = at::scalar_tensor(alpha, x.options()).requires_grad_(true);
    std::vector<int64_t> all{T};
    all.insert(all.end(), x.sizes().begin(), x.sizes().end());
    const snnkit::neuron_result r = repeated ? snnkit::neuron_forward_repeated(x, T, vth, v0, a, opt)
                                             : snnkit::neuron_forward(x.unsqueeze(0).expand(all).contiguous(), vth, v0, a, opt);
    ((r.spikes * ws).sum() + (r.v * wv).sum()).backward();
    return {r.spikes.detach(), r.v.detach(), x.grad(), v0.defined() ? v0.grad() : at::Tensor(), a.grad()};
}

double rel_err(const at::Tensor & a, const at::Tensor & b) {
    const double den = b.abs().max().item<double>();
    const double num = (a - b).abs().max().item<double>();
    return den == 0 ? num : num / den;
}

} // namespace

TEST(NeuronRepeated, EqualsTheExpandedInput) {
    at::set_num_threads(2);
    for (auto dtype : {at::kFloat, at::kDouble}) {
        const auto o = at::TensorOptions().dtype(dtype);
        const double tol = dtype == at::kDouble ? 1e-10 : 1e-4;
        for (const std::vector<int64_t> & step : {std::vector<int64_t>{3, 5, 67}, {2, 4, 9, 9}, {7, 3}}) {
            for (int64_t T : {1, 4, 9}) {
                for (int variant = 0; variant < 6; ++variant) {
                    SCOPED_TRACE("dtype " + std::string(c10::toString(dtype)) + ", T " + std::to_string(T) +
                                 ", variant " + std::to_string(variant) + ", step dims " + std::to_string(step.size()));
                    at::manual_seed(static_cast<uint64_t>(31 + variant + 7 * T));
                    neuron_options opt;
                    opt.reset = variant % 2 == 0 ? reset_mode::soft : reset_mode::hard;
                    opt.detach_reset = variant == 2 || variant == 5;
                    opt.spike_vth = variant == 3;
                    opt.surrogate.kind = variant == 4 ? surrogate_kind::sigmoid : surrogate_kind::atan;
                    const int64_t C = step[1];
                    const at::Tensor x = at::randn(step, o) * 0.7 + 0.4;
                    const at::Tensor vth = variant >= 3 ? at::rand({C}, o) + 0.5 : at::scalar_tensor(0.9, o);
                    at::Tensor v0; // none, per channel, per neuron
                    if (variant % 3 == 1) v0 = at::rand({C}, o) * 0.5;
                    if (variant % 3 == 2) v0 = at::randn(step, o) * 0.4;
                    std::vector<int64_t> all{T};
                    all.insert(all.end(), step.begin(), step.end());
                    const at::Tensor ws = at::randn(all, o), wv = at::randn(step, o);
                    const double alpha = variant == 1 ? 1.0 : 0.8;
                    const grads r = run(true, x, T, vth, v0, alpha, opt, ws, wv);
                    const grads e = run(false, x, T, vth, v0, alpha, opt, ws, wv);
                    ASSERT_EQ(r.spikes.sizes(), e.spikes.sizes());
                    EXPECT_TRUE(at::equal(r.spikes, e.spikes));
                    EXPECT_TRUE(at::equal(r.v, e.v));
                    const double rate = r.spikes.ne(0).to(at::kDouble).mean().item<double>();
                    EXPECT_GT(rate, 0.05);
                    EXPECT_LT(rate, 0.95);
                    ASSERT_EQ(r.gx.sizes(), x.sizes());
                    EXPECT_LT(rel_err(r.gx, e.gx), tol);
                    if (v0.defined()) {
                        EXPECT_LT(rel_err(r.gv0, e.gv0), tol);
                    }
                    EXPECT_LT(rel_err(r.ga, e.ga), tol);
                }
            }
        }
    }
}

// Large enough for several blocks per thread on both threads; forward only (inference), under no_grad.
TEST(NeuronRepeated, ManyBlocksWithoutGradient) {
    at::set_num_threads(2);
    at::NoGradGuard ng;
    at::manual_seed(5);
    const at::Tensor x = at::randn({4, 16, 40, 40}) * 0.5 + 0.3; // 102,400 neurons
    const neuron_options opt;
    const snnkit::neuron_result r = snnkit::neuron_forward_repeated(x, 6, at::scalar_tensor(1.0), at::Tensor(), at::Tensor(), opt);
    const snnkit::neuron_result e =
        snnkit::neuron_forward(x.unsqueeze(0).expand({6, 4, 16, 40, 40}).contiguous(), at::scalar_tensor(1.0), at::Tensor(), opt);
    EXPECT_TRUE(at::equal(r.spikes, e.spikes));
    EXPECT_TRUE(at::equal(r.v, e.v));
}

TEST(NeuronRepeated, BadInputIsRefused) {
    const neuron_options opt;
    const at::Tensor vth = at::scalar_tensor(1.0);
    EXPECT_THROW(snnkit::neuron_forward_repeated(at::ones({2, 3}), 0, vth, at::Tensor(), at::Tensor(), opt), snnkit::error);
    EXPECT_THROW(snnkit::neuron_forward_repeated(at::Tensor(), 2, vth, at::Tensor(), at::Tensor(), opt), snnkit::error);
    EXPECT_THROW(snnkit::neuron_forward_repeated(at::ones({2, 3}, at::kInt), 2, vth, at::Tensor(), at::Tensor(), opt),
                 snnkit::error);
    EXPECT_THROW(snnkit::neuron_forward_repeated(at::ones({2, 3}, at::device(at::kMeta)), 2, vth, at::Tensor(), at::Tensor(), opt),
                 snnkit::error);
    at::Tensor nan = at::ones({2, 3});
    nan[1][2] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_THROW(snnkit::neuron_forward_repeated(nan, 2, vth, at::Tensor(), at::Tensor(), opt), snnkit::error);
    // v0 of the wrong shape names it
    try {
        snnkit::neuron_forward_repeated(at::ones({2, 3, 4}), 2, vth, at::ones({5}), at::Tensor(), opt);
        FAIL() << "no error";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("v0"), std::string::npos) << e.what();
    }
}
