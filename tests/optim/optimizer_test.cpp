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

namespace {

// torch.optim's update rules written as plain per-element ATen expressions in double precision: the independent
// reference for the fused one-pass updates (the float parameters are updated in float there).
struct reference_state {
    at::Tensor p, m1, m2;
};

void reference_step(reference_state & s, const at::Tensor & g32, const optimizer_options & o, double lr, int64_t t) {
    const at::Tensor g = g32.to(at::kDouble);
    if (o.kind == "sgd") {
        at::Tensor d = g + o.weight_decay * s.p;
        if (o.momentum != 0) {
            s.m1 = t == 1 ? d : o.momentum * s.m1 + d;
            d = o.nesterov ? d + o.momentum * s.m1 : s.m1;
        }
        s.p = s.p - lr * d;
        return;
    }
    at::Tensor gg = g;
    if (o.kind == "adamw") {
        s.p = s.p * (1 - lr * o.weight_decay);
    } else {
        gg = g + o.weight_decay * s.p;
    }
    s.m1 = o.beta1 * s.m1 + (1 - o.beta1) * gg;
    s.m2 = o.beta2 * s.m2 + (1 - o.beta2) * gg * gg;
    const double bc1 = 1 - std::pow(o.beta1, static_cast<double>(t)), bc2 = 1 - std::pow(o.beta2, static_cast<double>(t));
    s.p = s.p - lr / bc1 * s.m1 / (at::sqrt(s.m2) / std::sqrt(bc2) + o.eps);
}

} // namespace

// Every rule and option on float tensors of an odd size (vector tails), over steps with fresh gradients; a
// gradient or a parameter that is not contiguous (a transposed view) is staged in a contiguous copy (and the
// parameter and its moments written back) and must agree as well.
TEST(optimizer, float_updates_match_the_reference_rules_for_every_option) {
    struct config {
        const char * kind;
        double momentum, wd;
        bool nesterov;
    };
    const config configs[] = {{"sgd", 0.9, 5e-4, false}, {"sgd", 0.9, 5e-4, true}, {"sgd", 0.0, 1e-2, false},
                              {"sgd", 0.9, 0.0, false},  {"adam", 0, 1e-2, false}, {"adamw", 0, 1e-2, false}};
    for (const config & c : configs) {
        for (const int layout : {0, 1, 2}) { // all contiguous, a transposed gradient, a transposed parameter
            const bool transposed_grad = layout == 1;
            const std::string what = std::string(c.kind) + " momentum " + std::to_string(c.momentum) + " wd " +
                                     std::to_string(c.wd) + (c.nesterov ? " nesterov" : "") +
                                     (layout == 1 ? " transposed grad" : layout == 2 ? " transposed param" : "");
            at::manual_seed(3);
            at::Tensor p = layout == 2 ? at::randn({29, 37}).t() : at::randn({37, 29});
            ASSERT_EQ(p.is_contiguous(), layout != 2);
            p.requires_grad_(true);
            optimizer_options o;
            o.kind = c.kind;
            o.momentum = c.momentum;
            o.weight_decay = c.wd;
            o.nesterov = c.nesterov;
            optimizer opt({{"w", p}}, o);
            reference_state ref{p.detach().to(at::kDouble), at::zeros({37, 29}, at::kDouble),
                                at::zeros({37, 29}, at::kDouble)};
            for (int64_t t = 1; t <= 4; ++t) {
                const at::Tensor g = transposed_grad ? at::randn({29, 37}).t() : at::randn({37, 29});
                ASSERT_EQ(g.is_contiguous(), !transposed_grad);
                p.mutable_grad() = g;
                const double lr = 0.05 * static_cast<double>(t);
                opt.step(lr);
                reference_step(ref, g, o, lr, t);
                const double err = (p.detach().to(at::kDouble) - ref.p).abs().max().item<double>();
                EXPECT_LT(err, 2e-6) << what << ", step " << t;
            }
        }
    }
}

TEST(optimizer, cosine_schedule_endpoints_and_midpoint) {
    EXPECT_DOUBLE_EQ(cosine_lr(0.1, 0.0, 0, 100), 0.1);
    EXPECT_NEAR(cosine_lr(0.1, 0.0, 50, 100), 0.05, 1e-15);
    EXPECT_NEAR(cosine_lr(0.1, 0.001, 100, 100), 0.001, 1e-15);
}
