// Hard cases of the neuron API: NaN input, empty tensors, T = 0, wrong V_th / v0 shapes, bad dtypes.
#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <functional>
#include <limits>
#include <string>

namespace {

using snnkit::neuron_options;

// Expects fn to throw snnkit::error whose message contains `part`.
void expect_error(const std::function<void()> & fn, const std::string & part) {
    try {
        fn();
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << "message: " << e.what();
        return;
    } catch (const std::exception & e) {
        FAIL() << "threw a non-snnkit exception: " << e.what();
    }
    FAIL() << "did not throw (expected '" << part << "')";
}

const at::Tensor vth1 = at::scalar_tensor(1.0);

TEST(NeuronErrors, NaNInputThrows) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    at::Tensor x = at::randn({4, 3, 5, 7});
    x[2][1][3][6] = nan;
    expect_error([&] { snnkit::neuron_forward(x, vth1, at::Tensor(), {}); }, "neuron_forward: NaN in x");
    expect_error([&] { snnkit::neuron_forward_reference(x, vth1, at::Tensor(), {}); }, "NaN in x");
    neuron_options hard;
    hard.reset = snnkit::reset_mode::hard;
    expect_error([&] { snnkit::neuron_forward(x, vth1, at::Tensor(), hard); }, "NaN");
    expect_error([&] { snnkit::neuron_step(x[0][0], vth1, at::full({5, 7}, nan), {}); }, "neuron_step: NaN");
    expect_error([&] { snnkit::neuron_forward(at::randn({2, 3}), at::scalar_tensor(nan), at::Tensor(), {}); },
                 "v_th contains NaN");
    expect_error([&] { snnkit::integrator_forward(x, 0.5, at::Tensor()); }, "integrator_forward: NaN");
    // the NaN is caught in every block, wherever it sits
    for (int64_t j : {0L, 8191L, 8192L, 9999L}) {
        at::Tensor y = at::zeros({3, 10000});
        y[1][j] = nan;
        expect_error([&] { snnkit::neuron_forward(y, vth1, at::Tensor(), {}); }, "NaN");
    }
}

TEST(NeuronErrors, EmptyBatchWorks) {
    for (auto shape : {std::vector<int64_t>{4, 0, 3, 5}, std::vector<int64_t>{3, 0}, std::vector<int64_t>{2, 2, 3, 0}}) {
        const at::Tensor x = at::randn(shape).requires_grad_(true);
        const at::Tensor vth = shape.size() >= 3 ? at::ones({shape[2]}) : vth1;
        const at::Tensor v0 = (shape.size() >= 3 ? at::zeros({shape[2]}) : at::zeros({})).requires_grad_(true);
        const snnkit::neuron_result r = snnkit::neuron_forward(x, vth, v0, {});
        EXPECT_EQ(r.spikes.sizes(), x.sizes());
        EXPECT_EQ(r.v.sizes(), x.sizes().slice(1));
        (r.spikes.sum() + r.v.sum()).backward();
        EXPECT_EQ(x.grad().sizes(), x.sizes());
        EXPECT_EQ(v0.grad().sizes(), v0.sizes());
        EXPECT_EQ(v0.grad().abs().sum().item<float>(), 0.0f);
        const snnkit::neuron_result ref = snnkit::neuron_forward_reference(x, vth, v0, {});
        EXPECT_EQ(ref.spikes.sizes(), x.sizes());
    }
}

TEST(NeuronErrors, ZeroTimeStepsThrows) {
    expect_error([] { snnkit::neuron_forward(at::randn({0, 3, 4}), vth1, at::Tensor(), {}); }, "T = 0");
    expect_error([] { snnkit::neuron_forward_reference(at::randn({0, 3, 4}), vth1, at::Tensor(), {}); }, "T = 0");
    expect_error([] { snnkit::integrator_forward(at::randn({0, 3}), 0.5, at::Tensor()); }, "T = 0");
}

TEST(NeuronErrors, WrongThresholdShapeThrows) {
    const at::Tensor x = at::randn({4, 2, 3, 5});
    expect_error([&] { snnkit::neuron_forward(x, at::ones({5}), at::Tensor(), {}); },
                 "v_th has shape [5] for x [4, 2, 3, 5]; expected a 0-d scalar or [C] = [3]");
    expect_error([&] { snnkit::neuron_forward(x, at::ones({3, 1}), at::Tensor(), {}); }, "v_th has shape [3, 1]");
    expect_error([&] { snnkit::neuron_forward(at::randn({4, 3}), at::ones({3}), at::Tensor(), {}); },
                 "no per-channel form");
    expect_error([&] { snnkit::neuron_forward(x, at::Tensor(), at::Tensor(), {}); }, "v_th is undefined");
    expect_error([&] { snnkit::neuron_forward_reference(x, at::ones({2}), at::Tensor(), {}); }, "v_th has shape [2]");
    // [1] is taken as a scalar
    EXPECT_NO_THROW(snnkit::neuron_forward(x, at::ones({1}), at::Tensor(), {}));
}

TEST(NeuronErrors, WrongStateShapeThrows) {
    const at::Tensor x = at::randn({4, 2, 3, 5});
    expect_error([&] { snnkit::neuron_forward(x, vth1, at::zeros({2}), {}); },
                 "v0 has shape [2] for x [4, 2, 3, 5]; expected undefined (zeros), a 0-d scalar, [C] = [3], or one "
                 "step [2, 3, 5]");
    expect_error([&] { snnkit::neuron_forward(x, vth1, at::zeros({2, 3, 4}), {}); }, "v0 has shape [2, 3, 4]");
    expect_error([&] { snnkit::neuron_forward(x, vth1, at::zeros({4, 2, 3, 5}), {}); }, "v0 has shape");
    expect_error([&] { snnkit::neuron_step(x[0], vth1, at::zeros({3, 5}), {}); }, "neuron_step: v0 has shape [3, 5]");
    expect_error([&] { snnkit::integrator_forward(x, 0.5, at::zeros({7})); }, "integrator_forward: v0 has shape [7]");
}

TEST(NeuronErrors, BadInputsThrow) {
    expect_error([] { snnkit::neuron_forward(at::ones({3, 4}, at::kInt), vth1, at::Tensor(), {}); },
                 "expected float32 or float64");
    expect_error([] { snnkit::neuron_forward(at::ones({3}), vth1, at::Tensor(), {}); },
                 "x has shape [3]; expected time-major [T, N, ...]");
    expect_error([] { snnkit::neuron_forward(at::Tensor(), vth1, at::Tensor(), {}); }, "x is undefined");
    expect_error([] { snnkit::neuron_step(at::scalar_tensor(1.0), vth1, at::Tensor(), {}); }, "neuron_step: x is 0-d");
}

// Options that made gradients NaN or zero without an error (a Dspike width of 0: 1 / tanh(0)), and
// thresholds that are not finite, are refused by both implementations before anything runs.
TEST(NeuronErrors, BadOptionsAndThresholdsThrow) {
    const at::Tensor x = at::randn({3, 2, 4});
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (const bool reference : {false, true}) {
        const auto run = [&](const at::Tensor & vth, const neuron_options & o) {
            return [&, vth, o] {
                if (reference) {
                    snnkit::neuron_forward_reference(x, vth, at::Tensor(), o);
                } else {
                    snnkit::neuron_forward(x, vth, at::Tensor(), o);
                }
            };
        };
        neuron_options o;
        o.surrogate.kind = snnkit::surrogate_kind::dspike;
        o.surrogate.width = 0.0;
        expect_error(run(vth1, o), "surrogate_width must be finite and > 0, got 0");
        o.surrogate.width = -1.0;
        expect_error(run(vth1, o), "surrogate_width must be finite and > 0");
        o = {};
        o.surrogate.param = inf;
        expect_error(run(vth1, o), "surrogate_param must be finite and >= 0");
        o.surrogate.param = -1.0;
        expect_error(run(vth1, o), "surrogate_param must be finite and >= 0");
        o = {};
        o.alpha = nan;
        expect_error(run(vth1, o), "alpha must be finite");
        expect_error(run(at::scalar_tensor(inf), {}), "v_th contains NaN or Inf");
        expect_error(run(at::scalar_tensor(nan), {}), "v_th contains NaN or Inf");
    }
}

// The fused kernel's gradient carries no history: asking for a second derivative is an error, not a
// silent zero.
TEST(NeuronErrors, SecondDerivativeIsRefused) {
    const at::Tensor x = at::randn({3, 2, 4}).requires_grad_(true);
    neuron_options o;
    o.surrogate.kind = snnkit::surrogate_kind::sigmoid;
    const at::Tensor loss = snnkit::neuron_forward(x, at::scalar_tensor(0.5), at::Tensor(), o).spikes.sum();
    expect_error([&] { torch::autograd::grad({loss}, {x}, {}, true, true); }, "second derivatives");
    // a plain first derivative still works
    const at::Tensor loss2 = snnkit::neuron_forward(x, at::scalar_tensor(0.5), at::Tensor(), o).spikes.sum();
    EXPECT_TRUE(torch::autograd::grad({loss2}, {x})[0].defined());
}

TEST(NeuronErrors, NonContiguousInputIsAccepted) {
    const at::Tensor base = at::randn({3, 4, 6, 5});
    const at::Tensor x = base.transpose(1, 3); // [3, 5, 6, 4], not contiguous
    const snnkit::neuron_result f = snnkit::neuron_forward(x, at::rand({6}) + 0.5, at::Tensor(), {});
    const snnkit::neuron_result r = snnkit::neuron_forward_reference(x, at::rand({6}) + 0.5, at::Tensor(), {});
    EXPECT_EQ(f.spikes.sizes(), x.sizes());
    at::manual_seed(1);
    const at::Tensor vth = at::rand({6}) + 0.5;
    EXPECT_TRUE(at::equal(snnkit::neuron_forward(x, vth, at::Tensor(), {}).spikes,
                          snnkit::neuron_forward_reference(x, vth, at::Tensor(), {}).spikes));
}

} // namespace
