// The optimizers against hand-computed updates (PyTorch's definitions), and the cosine schedule.
#include "snnkit/optim/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace snnkit;

namespace {

at::Tensor param(double v) {
    at::Tensor p = at::full({1}, v, at::kDouble);
    p.requires_grad_(true);
    return p;
}

void set_grad(at::Tensor & p, double g) { p.mutable_grad() = at::full({1}, g, at::kDouble); }

} // namespace

TEST(optimizer, sgd_momentum_weight_decay_matches_hand_computation) {
    at::Tensor p = param(1.0);
    optimizer_options o;
    o.kind = "sgd";
    o.momentum = 0.9;
    o.weight_decay = 0.1;
    optimizer opt({{"p", p}}, o);
    // step 1: d = 0.5 + 0.1*1 = 0.6; buf = 0.6; p = 1 - 0.1*0.6 = 0.94
    set_grad(p, 0.5);
    opt.step(0.1);
    EXPECT_NEAR(p.item<double>(), 0.94, 1e-15);
    // step 2: d = -0.2 + 0.1*0.94 = -0.106; buf = 0.9*0.6 - 0.106 = 0.434; p = 0.94 - 0.1*0.434 = 0.8966
    set_grad(p, -0.2);
    opt.step(0.1);
    EXPECT_NEAR(p.item<double>(), 0.8966, 1e-15);
}

TEST(optimizer, adam_matches_hand_computation_and_state_round_trips) {
    at::Tensor p = param(0.5);
    optimizer_options o;
    o.kind = "adam";
    o.weight_decay = 0.0;
    optimizer opt({{"p", p}}, o);
    double m = 0, v = 0, x = 0.5;
    const double grads[] = {0.3, -0.1, 0.7};
    for (int t = 1; t <= 3; ++t) {
        set_grad(p, grads[t - 1]);
        opt.step(0.01);
        m = 0.9 * m + 0.1 * grads[t - 1];
        v = 0.999 * v + 0.001 * grads[t - 1] * grads[t - 1];
        const double mh = m / (1 - std::pow(0.9, t)), vh = v / (1 - std::pow(0.999, t));
        x -= 0.01 * mh / (std::sqrt(vh) + 1e-8);
        EXPECT_NEAR(p.item<double>(), x, 1e-12) << "step " << t;
    }
    // Restoring the state into a fresh optimizer continues identically.
    at::Tensor q = param(p.item<double>());
    optimizer opt2({{"p", q}}, o);
    opt2.load_state(opt.state());
    set_grad(p, 0.2);
    set_grad(q, 0.2);
    opt.step(0.01);
    opt2.step(0.01);
    EXPECT_EQ(p.item<double>(), q.item<double>());
}

TEST(optimizer, cosine_schedule_endpoints_and_midpoint) {
    EXPECT_DOUBLE_EQ(cosine_lr(0.1, 0.0, 0, 100), 0.1);
    EXPECT_NEAR(cosine_lr(0.1, 0.0, 50, 100), 0.05, 1e-15);
    EXPECT_NEAR(cosine_lr(0.1, 0.001, 100, 100), 0.001, 1e-15);
}
