// Surrogate gradients: the hand-written derivative (used by the fused kernel) against autograd of the smooth
// function sigma (tensor form), a central finite difference of sigma (scalar form), and the tensor derivative
// the reference implementation uses.
#include "snnkit/core/error.h"
#include "snnkit/neuron/surrogate.h"
#include "snnkit/neuron/surrogate_grad.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using snnkit::surrogate_kind;
using snnkit::surrogate_options;

const std::vector<surrogate_kind> all_kinds = {surrogate_kind::rect,    surrogate_kind::triangle,
                                               surrogate_kind::exp,     surrogate_kind::sigmoid,
                                               surrogate_kind::atan,    surrogate_kind::dspike};

// Points where sigma is not differentiable (the FD and autograd checks stay clear of them).
std::vector<double> kinks(const surrogate_options & s) {
    const double p = snnkit::surrogate_param(s);
    switch (s.kind) {
    case surrogate_kind::rect: return {-0.5 * p, 0.5 * p};
    case surrogate_kind::triangle: return {-p, 0.0, p};
    case surrogate_kind::exp: return {0.0};
    case surrogate_kind::dspike: return {-0.5 * s.width, 0.5 * s.width};
    default: return {};
    }
}

// A grid over [-3, 3] that avoids the kinks by at least 1e-3.
std::vector<double> grid(const surrogate_options & s) {
    std::vector<double> xs;
    for (int i = 0; i <= 120; ++i) {
        const double x = -3.0 + 0.05 * i + 0.0123;
        bool near = false;
        for (double k : kinks(s)) near |= std::abs(x - k) < 1e-3;
        if (!near) xs.push_back(x);
    }
    return xs;
}

struct surrogate_case {
    surrogate_kind kind;
    double param;
    double width;
};

class SurrogateTest : public ::testing::TestWithParam<surrogate_case> {
protected:
    surrogate_options opts() const {
        surrogate_options s;
        s.kind = GetParam().kind;
        s.param = GetParam().param;
        s.width = GetParam().width;
        return s;
    }
};

TEST_P(SurrogateTest, HandWrittenGradMatchesAutogradOfValue) {
    const surrogate_options s = opts();
    const std::vector<double> xs = grid(s);
    at::Tensor x = at::tensor(xs, at::kDouble).requires_grad_(true);
    snnkit::surrogate_value(s, x).sum().backward();
    const at::Tensor g = x.grad();
    for (size_t i = 0; i < xs.size(); ++i) {
        const double want = g[static_cast<int64_t>(i)].item<double>();
        EXPECT_NEAR(snnkit::surrogate_grad(s, xs[i]), want, 1e-12 * std::max(1.0, std::abs(want))) << "x = " << xs[i];
    }
}

TEST_P(SurrogateTest, HandWrittenGradMatchesFiniteDifferenceAndTensorForms) {
    const surrogate_options s = opts();
    // The tensor forms (reference backward, autograd-able sigma) agree with the scalar ones ...
    const std::vector<double> xs = grid(s);
    const at::Tensor xt = at::tensor(xs, at::kDouble);
    const at::Tensor vt = snnkit::surrogate_value(s, xt);
    const at::Tensor gt = snnkit::surrogate_grad(s, xt);
    for (size_t i = 0; i < xs.size(); ++i) {
        const auto k = static_cast<int64_t>(i);
        EXPECT_NEAR(vt[k].item<double>(), snnkit::surrogate_value(s, xs[i]), 1e-14) << "x = " << xs[i];
        EXPECT_NEAR(gt[k].item<double>(), snnkit::surrogate_grad(s, xs[i]), 1e-12) << "x = " << xs[i];
    }
    // ... and the hand-written derivative matches a central difference of sigma.
    const double h = 1e-6;
    for (double x : grid(s)) {
        const double fd = (snnkit::surrogate_value(s, x + h) - snnkit::surrogate_value(s, x - h)) / (2 * h);
        EXPECT_NEAR(snnkit::surrogate_grad(s, x), fd, 1e-6 * std::max(1.0, std::abs(fd))) << "x = " << x;
    }
}

TEST(Surrogate, FloatExpMatchesDoubleExp) {
    // exp_nonpos (the float kernel's e^z, z <= 0) against double std::exp: relative error within a few ulp over
    // its whole range, and the clamp at -87 keeps e^z a normal float, never 0 or a denormal.
    double worst = 0.0;
    for (int i = 0; i <= 200000; ++i) {
        const float z = -87.0f * static_cast<float>(i) / 200000.0f;
        const double want = std::exp(static_cast<double>(z));
        worst = std::max(worst, std::abs(snnkit::surrogate_detail::exp_nonpos(z) - want) / want);
    }
    EXPECT_LT(worst, 1.5e-7); // about 2.5 ulp; without the r^7 term it would be about 2.6e-7
    EXPECT_EQ(snnkit::surrogate_detail::exp_nonpos(0.0f), 1.0f);
    EXPECT_GE(snnkit::surrogate_detail::exp_nonpos(-1000.0f), 1e-38f);
    EXPECT_LE(snnkit::surrogate_detail::exp_nonpos(-1000.0f), 2e-38f);
}

TEST_P(SurrogateTest, FloatKernelFormMatchesDouble) {
    // The float derivative the fused kernel uses (exp_nonpos, no libm call) against the double one, on a fine
    // grid including the window edges and tails: relative error within a few float ulp, plus what rounding
    // the exponent's argument (about p|x|, up to 2p|x| for Dspike) to float costs in e^z: ulp x |z|, as it
    // would with any float exp.
    const surrogate_options s = opts();
    const double p = snnkit::surrogate_param(s);
    const float inv2tanh = static_cast<float>(snnkit::dspike_inv2tanh(p, s.width));
    double worst = 0.0;
    for (int i = -6000; i <= 6000; ++i) {
        const float x = 0.001f * static_cast<float>(i);
        float got = 0.0f;
        const float pf = static_cast<float>(p), wf = static_cast<float>(s.width);
        using snnkit::surrogate_detail::grad;
        switch (s.kind) {
        case surrogate_kind::rect: got = grad<surrogate_kind::rect, float>(x, pf, wf, 0.0f); break;
        case surrogate_kind::triangle: got = grad<surrogate_kind::triangle, float>(x, pf, wf, 0.0f); break;
        case surrogate_kind::exp: got = grad<surrogate_kind::exp, float>(x, pf, wf, 0.0f); break;
        case surrogate_kind::sigmoid: got = grad<surrogate_kind::sigmoid, float>(x, pf, wf, 0.0f); break;
        case surrogate_kind::atan: got = grad<surrogate_kind::atan, float>(x, pf, wf, 0.0f); break;
        case surrogate_kind::dspike: got = grad<surrogate_kind::dspike, float>(x, pf, wf, inv2tanh); break;
        }
        bool near_kink = false; // a float x and its double can fall on either side of a window edge
        for (double k : kinks(s)) near_kink |= std::abs(static_cast<double>(x) - k) < 1e-6;
        if (near_kink) continue;
        const double want = snnkit::surrogate_grad(s, static_cast<double>(x));
        if (want == 0.0) {
            EXPECT_EQ(got, 0.0f) << "x = " << x;
            continue;
        }
        const double rel = std::abs(got - want) / std::abs(want);
        const double tol = 3e-7 + 1.2e-7 * 2.0 * p * std::abs(static_cast<double>(x));
        EXPECT_LT(rel, tol) << "x = " << x;
        worst = std::max(worst, rel / tol);
    }
    std::printf("worst relative error of the float form, as a share of its tolerance: %.2f\n", worst);
}

TEST_P(SurrogateTest, ValueIsASmoothStep) {
    const surrogate_options s = opts();
    EXPECT_NEAR(snnkit::surrogate_value(s, -1e6), 0.0, 1e-5);
    EXPECT_NEAR(snnkit::surrogate_value(s, 1e6), 1.0, 1e-5);
    EXPECT_GT(snnkit::surrogate_grad(s, 0.01), 0.0);
    if (s.kind == surrogate_kind::dspike) { // continuous at the window's edges, for any width w
        EXPECT_NEAR(snnkit::surrogate_value(s, 0.5 * s.width), 1.0, 1e-14);
        EXPECT_NEAR(snnkit::surrogate_value(s, -0.5 * s.width), 0.0, 1e-14);
    }
    double prev = -1.0;
    for (double x : grid(s)) { // monotone non-decreasing
        const double v = snnkit::surrogate_value(s, x);
        EXPECT_GE(v, prev - 1e-15);
        prev = v;
    }
}

std::string case_name(const ::testing::TestParamInfo<surrogate_case> & info) {
    std::string n = snnkit::surrogate_to_string(info.param.kind);
    n += info.param.param > 0 ? "_p" + std::to_string(static_cast<int>(info.param.param * 10)) : "_default";
    if (info.param.width != 1.0) n += "_w" + std::to_string(static_cast<int>(info.param.width * 10));
    return n;
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, SurrogateTest,
    ::testing::Values(surrogate_case{surrogate_kind::rect, 0, 1}, surrogate_case{surrogate_kind::rect, 0.7, 1},
                      surrogate_case{surrogate_kind::triangle, 0, 1}, surrogate_case{surrogate_kind::triangle, 1.5, 1},
                      surrogate_case{surrogate_kind::exp, 0, 1}, surrogate_case{surrogate_kind::exp, 5, 1},
                      surrogate_case{surrogate_kind::sigmoid, 0, 1}, surrogate_case{surrogate_kind::sigmoid, 1.3, 1},
                      surrogate_case{surrogate_kind::atan, 0, 1}, surrogate_case{surrogate_kind::atan, 4.5, 1},
                      surrogate_case{surrogate_kind::dspike, 0, 1}, surrogate_case{surrogate_kind::dspike, 5, 1},
                      surrogate_case{surrogate_kind::dspike, 2, 1.6}),
    case_name);

TEST(Surrogate, DefaultsAndNames) {
    surrogate_options s;
    const double defaults[] = {1, 1, 2, 4, 2, 3};
    for (size_t i = 0; i < all_kinds.size(); ++i) {
        s.kind = all_kinds[i];
        EXPECT_EQ(snnkit::surrogate_param(s), defaults[i]);
        EXPECT_EQ(snnkit::surrogate_from_string(snnkit::surrogate_to_string(all_kinds[i])), all_kinds[i]);
    }
    s.kind = surrogate_kind::atan;
    s.param = 3.5;
    EXPECT_EQ(snnkit::surrogate_param(s), 3.5);
    // the atan peak is a/2, the sigmoid peak a/4
    EXPECT_DOUBLE_EQ(snnkit::surrogate_grad(s, 0.0), 1.75);
}

TEST(Surrogate, UnknownNameThrows) {
    try {
        snnkit::surrogate_from_string("relu");
        FAIL() << "no throw";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("unknown name 'relu'"), std::string::npos) << e.what();
    }
}

} // namespace
