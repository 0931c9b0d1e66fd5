// The neuron on the sum of two inputs formed inside the kernel (neuron_forward_sum: a residual add read only by a
// spike layer) against neuron_forward on the sum formed first: spikes and final v bit-equal. Float32 and float64,
// soft and hard reset, V_th-valued spikes, V_th and v0 forms, a leak factor, sizes that leave partial blocks; and
// the refusals (other sizes or dtype, gradients on, NaN).
#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <limits>

using namespace snnkit;

TEST(neuron_forward_sum, equals_the_neuron_on_the_sum_bit_for_bit) {
    at::NoGradGuard ng;
    at::manual_seed(8);
    for (const auto dt : {at::kFloat, at::kDouble}) {
        for (const reset_mode reset : {reset_mode::soft, reset_mode::hard}) {
            for (const bool spike_vth : {false, true}) {
                for (const int form : {0, 1, 2}) { // V_th / v0: scalar / none, per channel / per channel, per neuron
                    const int64_t T = 7, N = 3, C = 5, S = 4099; // 5 * 4099 neurons a step: partial blocks
                    const at::Tensor x = at::randn({T, N, C, S}, dt) * 0.7;
                    const at::Tensor y = at::randn({T, N, C, S}, dt) * 0.7;
                    const at::Tensor vth = form == 0 ? at::scalar_tensor(0.9, dt) : at::rand({C}, dt) + 0.5;
                    const at::Tensor v0 = form == 0 ? at::Tensor() : form == 1 ? at::rand({C}, dt) * 0.2
                                                                               : at::rand({N, C, S}, dt) * 0.2;
                    const at::Tensor alpha = form == 2 ? at::scalar_tensor(0.85, dt) : at::Tensor();
                    neuron_options o;
                    o.reset = reset;
                    o.spike_vth = spike_vth;
                    const neuron_result want = neuron_forward(x + y, vth, v0, alpha, o);
                    const neuron_result got = neuron_forward_sum(x, y, vth, v0, alpha, o);
                    SCOPED_TRACE(std::string(at::toString(dt)) + (reset == reset_mode::soft ? " soft" : " hard") +
                                 (spike_vth ? " vth-spikes" : "") + " form " + std::to_string(form));
                    EXPECT_TRUE(at::equal(got.spikes, want.spikes));
                    EXPECT_TRUE(at::equal(got.v, want.v));
                    EXPECT_GT(want.spikes.ne(0).sum().item<int64_t>(), 0);
                }
            }
        }
    }
    // a strided x (a channels-last layout seen as [T, N, C, S]) is read through a contiguous copy: still equal
    const at::Tensor x = at::randn({4, 2, 6, 5}).transpose(2, 3).contiguous().transpose(2, 3);
    const at::Tensor y = at::randn({4, 2, 6, 5});
    const neuron_result want = neuron_forward(x + y, at::scalar_tensor(0.5), {}, neuron_options{});
    const neuron_result got = neuron_forward_sum(x, y, at::scalar_tensor(0.5), {}, {}, neuron_options{});
    EXPECT_TRUE(at::equal(got.spikes, want.spikes));
}

TEST(neuron_forward_sum, refuses_other_sizes_gradients_and_nan) {
    const at::Tensor x = at::randn({3, 2, 4});
    const at::Tensor vth = at::scalar_tensor(1.0);
    {
        at::NoGradGuard ng;
        EXPECT_THROW(neuron_forward_sum(x, at::randn({3, 2, 5}), vth, {}, {}, neuron_options{}), error);
        EXPECT_THROW(neuron_forward_sum(x, at::randn({3, 2, 4}, at::kDouble), vth, {}, {}, neuron_options{}), error);
        EXPECT_THROW(neuron_forward_sum(x, at::Tensor(), vth, {}, {}, neuron_options{}), error);
        at::Tensor bad = at::randn({3, 2, 4});
        bad[1][0][2] = std::numeric_limits<float>::quiet_NaN();
        EXPECT_THROW(neuron_forward_sum(x, bad, vth, {}, {}, neuron_options{}), error);
    }
    const at::Tensor xg = x.clone().requires_grad_(true);
    EXPECT_THROW(neuron_forward_sum(xg, at::randn({3, 2, 4}), vth, {}, {}, neuron_options{}), error);
}
