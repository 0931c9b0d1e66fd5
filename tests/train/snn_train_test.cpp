// Direct SNN training: the finite-difference gradient routine, the batched perturbed-copy loss, Dspike's
// b selection, a tiny SNN learning a separable task, and bit-exact resume with Dspike adaptation.
#include "snnkit/core/error.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/train/dspike_adapt.h"
#include "snnkit/train/snn_model.h"
#include "snnkit/train/trainer.h"
#include "train/toy_task.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <limits>

using namespace snnkit;
using namespace snnkit_test;

namespace {

snn_model_options dspike_lif(double b) {
    snn_model_options o;
    o.T = 3;
    o.v_th = 1.0;
    o.neuron.alpha = 0.5;
    o.neuron.reset = reset_mode::hard;
    o.neuron.surrogate.kind = surrogate_kind::dspike;
    o.neuron.surrogate.param = b;
    return o;
}

} // namespace

// FDG of a smooth function against its analytic gradient: L(w) = sum(a * sin(w)) + 0.5 |w|^2,
// dL/dw = a cos(w) + w. Central differences are exact to O(eps^2).
TEST(fdg, matches_the_analytic_gradient_of_a_smooth_function) {
    at::manual_seed(1);
    const at::Tensor w = at::randn({4, 3, 2}, at::kDouble), a = at::randn({4, 3, 2}, at::kDouble);
    int calls = 0;
    int64_t most = 0;
    const batched_loss_fn loss = [&](const at::Tensor & ws) {
        ++calls;
        most = std::max(most, ws.size(0));
        return (a * ws.sin()).sum({1, 2, 3}) + 0.5 * ws.pow(2).sum({1, 2, 3});
    };
    const at::Tensor coords = at::tensor({0, 5, 7, 11, 23}, at::kLong);
    const at::Tensor fdg = finite_difference_gradient(loss, w, coords, 1e-4, 6);
    const at::Tensor exact = (a * w.cos() + w).reshape({-1}).index_select(0, coords);
    EXPECT_LT((fdg - exact).abs().max().item<double>(), 1e-7);
    EXPECT_EQ(calls, 2); // 5 coordinates, 3 per batch of 6 copies (+ and -)
    EXPECT_EQ(most, 6);
    // every coordinate when coords covers all of w
    const at::Tensor all = finite_difference_gradient(loss, w, at::arange(24, at::kLong), 1e-4, 16);
    EXPECT_LT((all - (a * w.cos() + w).reshape({-1})).abs().max().item<double>(), 1e-7);
}

TEST(fdg, cosine_and_coordinate_subsets) {
    EXPECT_NEAR(gradient_cosine(at::tensor({1.0, 0.0}), at::tensor({1.0, 1.0})), 1 / std::sqrt(2.0), 1e-12);
    EXPECT_EQ(gradient_cosine(at::zeros({3}), at::ones({3})), 0.0);
    dspike_adapt_options o;
    o.coords = 10;
    const at::Tensor c1 = dspike_coords(100, o, 0), c2 = dspike_coords(100, o, 0), c3 = dspike_coords(100, o, 1);
    EXPECT_EQ(c1.numel(), 10);
    EXPECT_TRUE(at::equal(c1, c2));             // seeded
    EXPECT_FALSE(at::equal(c1, c3));            // a new subset each epoch
    EXPECT_EQ(std::get<0>(at::_unique(c1)).numel(), 10); // no repeats
    o.coords = 0;
    EXPECT_EQ(dspike_coords(144, o, 0).numel(), 144); // small first layers: all weights
}

TEST(dspike, chooses_the_candidate_with_the_highest_cosine) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    EXPECT_EQ(dspike_choose({0.1, 0.2, 0.3}), 2);
    EXPECT_EQ(dspike_choose({0.5, 0.2, 0.3}), 0);
    EXPECT_EQ(dspike_choose({0.2, 0.3, 0.1}), 1);
    EXPECT_EQ(dspike_choose({0.3, 0.3, 0.3}), 1); // ties keep the current b
    EXPECT_EQ(dspike_choose({nan, 0.1, nan}), 1);
    EXPECT_EQ(dspike_choose({0.4, nan, 0.1}), 0);
}

// The perturbed-copy loss evaluated in one stacked forward equals one forward per copy with the weight
// swapped in (the general path), for a conv first layer and for a linear first layer.
TEST(dspike, stacked_copies_equal_separate_forwards) {
    at::manual_seed(2);
    const dataset d = toy(16, 7);
    const at::Tensor x = d.images.to(at::kFloat) / 255.0, y = d.labels;
    graph_builder lb({1, 8, 8}, 2, 4);
    lb.flatten("flat");
    lb.linear("fc1", 64, 8);
    lb.relu("relu");
    lb.linear("fc2", 8, 2);
    for (graph ann : {tiny(4), lb.finish("custom")}) {
        graph g = snn_from_ann(ann, dspike_lif(3.0));
        const int layer = first_weight_layer(g);
        const at::Tensor w = g.nodes[layer].params.at("weight");
        at::Tensor stack = w.unsqueeze(0).expand([&] {
                               std::vector<int64_t> s{3};
                               s.insert(s.end(), w.sizes().begin(), w.sizes().end());
                               return s;
                           }()).clone();
        stack[1] += 0.3 * at::randn(w.sizes());
        stack[2] -= 0.3 * at::randn(w.sizes());
        // Also with label smoothing: the loss the FDG differentiates is the one training descends.
        for (double ls : {0.0, 0.1}) {
            const at::Tensor stacked = snn_loss_for_weights(g, 3, layer, x, y, stack, ls);
            for (int64_t p = 0; p < 3; ++p) {
                graph c = g.clone();
                c.nodes[layer].params["weight"] = stack[p].clone();
                at::NoGradGuard ng;
                snn_options so;
                so.T = 3;
                const at::Tensor logits = snn_forward(c, x, so).out.mean(0).to(at::kDouble);
                const double l = at::cross_entropy_loss(logits, y, {}, at::Reduction::Mean, -100, ls).item<double>();
                EXPECT_NEAR(stacked[p].item<double>(), l, 1e-5) << g.arch << " copy " << p << " smoothing " << ls;
            }
        }
    }
}

namespace {

// What dspike_adapt measures, computed independently for the tiny net (conv -> bn -> spike -> pool -> fc):
// dropout off; BatchNorm frozen at the batch's statistics (the conv output's mean and biased variance over N,
// H, W; the direct input is the same at every step), or with batch_stats in training mode; the FDG by one
// forward per perturbed weight (no stacking); each candidate b's gradient by autograd; their cosines.
std::array<double, 3> reference_cosines(const graph & g0, int64_t T, const at::Tensor & x, const at::Tensor & y,
                                        const std::array<double, 3> & cand, double eps, bool batch_stats = false) {
    graph g = g0.clone();
    const int layer = first_weight_layer(g);
    const node & conv = g.nodes[layer];
    const at::Tensor w = conv.params.at("weight").detach().clone();
    for (auto & n : g.nodes) {
        if (n.op == op_kind::dropout) {
            n.attrs.p = 0.0;
        }
        if (n.op == op_kind::batch_norm && !batch_stats) {
            at::NoGradGuard ng;
            const auto & a = conv.attrs;
            const at::Tensor z = at::conv2d(x, w, {}, a.stride, a.padding, a.dilation, a.groups);
            n.buffers["running_mean"] = z.mean({0, 2, 3});
            n.buffers["running_var"] = z.var({0, 2, 3}, /*unbiased=*/false);
        }
    }
    snn_options so;
    so.T = T;
    so.train = batch_stats;
    auto loss_with = [&](const at::Tensor & wk) {
        graph c = g.clone();
        c.nodes[layer].params["weight"] = wk;
        return at::cross_entropy_loss(snn_forward(c, x, so).out.mean(0).to(at::kDouble), y);
    };
    at::Tensor fdg = at::empty({w.numel()}, at::kDouble);
    {
        at::NoGradGuard ng;
        for (int64_t i = 0; i < w.numel(); ++i) {
            at::Tensor up = w.clone(), down = w.clone();
            up.view({-1})[i] += eps;
            down.view({-1})[i] -= eps;
            fdg[i] = (loss_with(up).item<double>() - loss_with(down).item<double>()) / (2 * eps);
        }
    }
    std::array<double, 3> cosine{};
    for (int k = 0; k < 3; ++k) {
        set_surrogate_param(g, cand[k]);
        const at::Tensor wk = w.clone().requires_grad_(true);
        at::AutoGradMode on(true);
        const at::Tensor grad = torch::autograd::grad({loss_with(wk)}, {wk})[0].reshape({-1}).to(at::kDouble);
        cosine[k] = (grad * fdg).sum().item<double>() / (grad.norm() * fdg.norm()).item<double>();
    }
    return cosine;
}

} // namespace

// A constructed case: with one training batch and a fixed network, the three cosines equal an independent
// recomputation (reference_cosines above), and the chosen b is the candidate with the highest one.
TEST(dspike, adapt_picks_the_b_whose_gradient_best_matches_the_fdg) {
    const dataset d = toy(64, 9);
    const at::Tensor x = d.images.to(at::kFloat) / 255.0, y = d.labels;
    graph g = snn_from_ann(tiny(8), dspike_lif(2.0));
    const graph before = g.clone();
    dspike_adapt_options o;
    o.db = 1.0;
    o.eps = 0.05;
    const dspike_epoch_report r = dspike_adapt(g, 3, x, y, 2.0, o, 0);
    EXPECT_EQ(r.candidates[0], 1.0);
    EXPECT_EQ(r.candidates[2], 3.0);
    const std::array<double, 3> ref = reference_cosines(before, 3, x, y, r.candidates, o.eps);
    for (int k = 0; k < 3; ++k) {
        EXPECT_NEAR(r.cosine[k], ref[k], 1e-3) << "candidate b = " << r.candidates[k];
    }
    EXPECT_EQ(r.coords, 36); // conv 4x1x3x3: all of them
    int best = 0;
    for (int k = 1; k < 3; ++k) {
        if (r.cosine[k] > r.cosine[best]) {
            best = k;
        }
    }
    EXPECT_EQ(r.b, r.candidates[best]);
    for (const auto & n : g.nodes) {
        if (n.op == op_kind::spike) {
            EXPECT_EQ(n.attrs.neuron.surrogate.param, r.b);
        }
    }
    // The gradients point roughly along the FDG (a meaningful signal, not noise), and b changes them.
    EXPECT_GT(r.cosine[best], 0.2);
    EXPECT_NE(r.cosine[0], r.cosine[2]);
    // Label smoothing reaches both gradients: the same batch and weights give other cosines with it.
    graph gs = snn_from_ann(tiny(8), dspike_lif(2.0));
    dspike_adapt_options os = o;
    os.label_smoothing = 0.5;
    const dspike_epoch_report rs = dspike_adapt(gs, 3, x, y, 2.0, os, 0);
    EXPECT_NE(rs.cosine[1], r.cosine[1]);
    // With BatchNorm recomputed per copy (--fdg-bn batch): the same independent check, and the cosines differ
    // from the frozen ones.
    graph gb = before.clone();
    dspike_adapt_options ob = o;
    ob.bn_batch_stats = true;
    const dspike_epoch_report rb = dspike_adapt(gb, 3, x, y, 2.0, ob, 0);
    const std::array<double, 3> refb = reference_cosines(before, 3, x, y, rb.candidates, o.eps, true);
    for (int k = 0; k < 3; ++k) {
        EXPECT_NEAR(rb.cosine[k], refb[k], 1e-3) << "batch statistics, candidate b = " << rb.candidates[k];
    }
    EXPECT_NE(rb.cosine[1], r.cosine[1]);
    // A non-Dspike surrogate is refused with a clear error.
    graph a = snn_from_ann(tiny(8), [] {
        snn_model_options m = dspike_lif(2.0);
        m.neuron.surrogate.kind = surrogate_kind::atan;
        return m;
    }());
    EXPECT_THROW(dspike_adapt(a, 3, x, y, 2.0, o, 0), snnkit::error);
}

// With BatchNorm at each copy's batch statistics the loss does not change when a channel of the first conv
// (which feeds a BatchNorm) is scaled, so the BPTT gradient of each channel is orthogonal to its weights,
// while with frozen statistics it is not.
TEST(dspike, batch_statistics_gradient_is_orthogonal_to_each_channel) {
    const dataset d = toy(64, 9);
    const at::Tensor x = d.images.to(at::kFloat) / 255.0, y = d.labels;
    const graph g = snn_from_ann(tiny(8), dspike_lif(2.0));
    const int layer = first_weight_layer(g);
    const at::Tensor w = g.nodes[layer].params.at("weight").detach().reshape({4, -1});
    double frozen_radial = 0;
    for (bool batch : {true, false}) {
        dspike_adapt_options o;
        o.bn_batch_stats = batch;
        graph c = dspike_frozen_copy(g, 3, x, batch);
        const at::Tensor grad = dspike_bptt_grad(c, 3, x, y, 2.0, o).reshape({4, -1});
        const at::Tensor radial = (grad * w).sum(1).abs() / (grad.norm(2, 1) * w.norm(2, 1));
        if (batch) {
            EXPECT_LT(radial.max().item<double>(), 1e-3) << radial;
        } else {
            frozen_radial = radial.max().item<double>();
        }
    }
    EXPECT_GT(frozen_radial, 0.05);
}

TEST(snn_training, a_tiny_snn_learns_a_separable_task) {
    const dataset train = toy(640, 3), test = toy(200, 4);
    snn_model_options m = dspike_lif(3.0);
    m.neuron.surrogate.kind = surrogate_kind::atan;
    m.neuron.surrogate.param = 0;
    graph g = snn_from_ann(tiny(6), m);
    const train_result r = train_loop(g, snn_forward_fn(g, m.T), train, test, [] { trainer_options o = toy_options("", 0.1, 3); o.epochs = 4; return o; }());
    EXPECT_EQ(r.test_accuracy, 100.0);
    EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
}

// Interrupted mid-epoch (and again in the next epoch), resumed in fresh "processes": the same weights,
// the same Dspike b and the same per-epoch Dspike log as an uninterrupted run.
TEST(snn_training, resume_with_dspike_adaptation_is_bit_identical) {
    const dataset train = toy(320, 1), test = toy(64, 2);
    dspike_adapt_options ao;
    ao.eps = 0.05;
    struct run_state {
        graph g;
        double b = 3.0;
    };
    auto hooks_for = [&](run_state & s) {
        train_hooks h;
        h.on_epoch = [&s, ao](int epoch, const at::Tensor & x, const at::Tensor & y) {
            const dspike_epoch_report r = dspike_adapt(s.g, 3, x, y, s.b, ao, epoch);
            s.b = r.b;
            return "{\"dspike\":" + r.to_json() + "}";
        };
        h.save_state = [&s] { return std::to_string(s.b); };
        h.load_state = [&s](const std::string & t) {
            s.b = std::stod(t);
            set_surrogate_param(s.g, s.b);
        };
        return h;
    };
    run_state a{snn_from_ann(tiny(5), dspike_lif(3.0))};
    const train_result ra = train_loop(a.g, snn_forward_fn(a.g, 3), train, test, toy_options(fresh_dir("tmp_snn_train/a"), 0.1, 3), hooks_for(a));
    ASSERT_FALSE(ra.interrupted);

    const std::string dir = fresh_dir("tmp_snn_train/b");
    int stops = 0;
    for (int64_t limit : {4, 13, 0}) {
        run_state b{snn_from_ann(tiny(5), dspike_lif(3.0))};
        trainer_options o = toy_options(dir, 0.1, 3);
        o.resume = true;
        o.max_steps = limit;
        const train_result rb = train_loop(b.g, snn_forward_fn(b.g, 3), train, test, o, hooks_for(b));
        stops += rb.interrupted;
        if (!rb.interrupted) {
            const auto ta = a.g.named_tensors(), tb = b.g.named_tensors();
            ASSERT_EQ(ta.size(), tb.size());
            for (size_t i = 0; i < ta.size(); ++i) {
                EXPECT_TRUE(at::equal(ta[i].second, tb[i].second)) << ta[i].first;
            }
            EXPECT_EQ(a.b, b.b);
            ASSERT_EQ(rb.history.size(), ra.history.size());
            for (size_t e = 0; e < ra.history.size(); ++e) {
                // the same b, candidates and cosines (the timings differ)
                const auto na = nlohmann::json::parse(ra.history[e].note).at("dspike");
                const auto nb = nlohmann::json::parse(rb.history[e].note).at("dspike");
                EXPECT_EQ(na.at("b"), nb.at("b")) << "epoch " << e;
                EXPECT_EQ(na.at("candidates"), nb.at("candidates")) << "epoch " << e;
                EXPECT_EQ(na.at("cosine"), nb.at("cosine")) << "epoch " << e;
            }
        }
    }
    EXPECT_EQ(stops, 2);
}

// A NaN in an SNN: the spiking layer after it refuses it, and training names the layer where it started
// with the usual hint, as for an ANN.
TEST(snn_training, a_nan_is_reported_with_the_layer_where_it_started) {
    const dataset train = toy(128, 1), test = toy(32, 2);
    snn_model_options m = dspike_lif(3.0);
    graph g = snn_from_ann(tiny(5), m);
    g.nodes[g.find("bn")].params["weight"][1] = NAN;
    try {
        trainer_options o = toy_options("", 0.05, 11);
        o.snn_T = m.T; // as train-snn sets it: the diagnosis reruns the SNN
        train_loop(g, snn_forward_fn(g, m.T), train, test, o);
        FAIL() << "no error";
    } catch (const snnkit::error & e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("output of layer 'bn' at epoch 1 step 0"), std::string::npos) << msg;
        EXPECT_NE(msg.find("lower the learning rate?"), std::string::npos) << msg;
    }
}

TEST(snn_training, bad_options_are_refused) {
    snn_model_options m = dspike_lif(3.0);
    m.T = 0;
    EXPECT_THROW(snn_from_ann(tiny(1), m), snnkit::error);
    m = dspike_lif(3.0);
    m.v_th = 0;
    EXPECT_THROW(snn_from_ann(tiny(1), m), snnkit::error);
    m = dspike_lif(3.0);
    m.neuron.alpha = 1.5;
    EXPECT_THROW(snn_from_ann(tiny(1), m), snnkit::error);
    graph_builder b({1, 8, 8}, 2, 1);
    b.flatten("flat");
    b.linear("fc", 64, 2);
    EXPECT_THROW(snn_from_ann(b.finish("custom"), dspike_lif(3.0)), snnkit::error); // no ReLU
}
