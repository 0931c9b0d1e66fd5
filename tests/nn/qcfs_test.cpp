// The QCFS activation (Bu et al., ICLR 2022) against its closed form: forward = the formula, backward = the
// straight-through rule and the paper's lambda gradient (and the official code's composition of ATen ops),
// lambda initialised from activation statistics computed by hand, model files, the zoo, and lambda moving
// in training.
#include "snnkit/convert/clipfloor.h"
#include "snnkit/core/error.h"
#include "snnkit/io/model_io.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/qcfs.h"
#include "snnkit/nn/zoo.h"
#include "snnkit/optim/optimizer.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

using namespace snnkit;

namespace {

// The formula, one value at a time in double.
double qcfs_ref(double z, double lam, int64_t L) {
    const double q = std::floor(z * static_cast<double>(L) / lam + 0.5) / static_cast<double>(L);
    return lam * std::min(std::max(q, 0.0), 1.0);
}

// The paper's gradients (d/dz, d/dlambda) at z, with k = floor(z L / lambda + 1/2).
std::pair<double, double> qcfs_grad_ref(double z, double lam, int64_t L) {
    const double k = std::floor(z * static_cast<double>(L) / lam + 0.5);
    if (k < 0) {
        return {0.0, 0.0};
    }
    if (k > static_cast<double>(L)) {
        return {0.0, 1.0};
    }
    return {1.0, k / static_cast<double>(L) - z / lam};
}

// Values of z whose k is not within `margin` of a rounding boundary (float vs double rounding differs there).
at::Tensor away_from_steps(at::Tensor z, double lam, int64_t L, double margin = 1e-3) {
    const at::Tensor y = z * static_cast<double>(L) / lam + 0.5;
    const at::Tensor f = y - at::floor(y);
    return z.index({at::logical_and(f > margin, f < 1 - margin)});
}

// input [F] -> linear (F -> H) -> [batch_norm] -> relu -> linear (H -> 2)
graph tiny(int64_t f, int64_t h, bool bn, uint64_t seed) {
    graph_builder b({f}, 2, seed);
    b.linear("fc1", f, h);
    if (bn) {
        b.batch_norm("fc1.bn", h);
    }
    b.relu("fc1.relu");
    b.linear("fc2", h, 2);
    return b.finish("custom");
}

// q-quantile (k-th smallest, k = ceil(q n)) by a full sort.
double sorted_quantile(const at::Tensor & t, double q) {
    std::vector<double> v;
    const at::Tensor d = t.to(at::kDouble).contiguous().reshape({-1});
    for (int64_t i = 0; i < d.numel(); ++i) {
        v.push_back(d[i].item<double>());
    }
    std::sort(v.begin(), v.end());
    const auto k = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::max<size_t>(1, k) - 1];
}

} // namespace

TEST(Qcfs, ForwardEqualsFormulaAndClipfloor) {
    at::manual_seed(1);
    for (int64_t L : {1, 2, 4, 8, 16}) {
        for (double lam : {0.37, 1.0, 2.5}) {
            const at::Tensor z = (at::rand({4000}, at::kDouble) * 2.0 - 0.5) * lam * 1.5;
            const at::Tensor a = qcfs_activation(z, at::full({}, lam, at::kDouble), L);
            for (int64_t i = 0; i < z.numel(); ++i) {
                ASSERT_NEAR(a[i].item<double>(), qcfs_ref(z[i].item<double>(), lam, L), 1e-12)
                    << "L " << L << " z " << z[i].item<double>();
            }
            // It is the IF neuron's rate after T = L steps with v(0) = V_th/2: clipfloor(z, L, lambda, 1/2).
            const at::Tensor zf = z.to(at::kFloat);
            const at::Tensor lf = at::full({}, lam, at::kFloat);
            EXPECT_TRUE(at::equal(qcfs_activation(zf, lf, L), clipfloor(zf, L, lf, 0.5)));
            // L + 1 values lambda * k / L only
            const at::Tensor k = a * static_cast<double>(L) / lam;
            EXPECT_LT((k - at::round(k)).abs().max().item<double>(), 1e-9);
            EXPECT_GE(k.min().item<double>(), 0.0);
            EXPECT_LE(k.max().item<double>(), static_cast<double>(L) + 1e-9);
        }
    }
}

TEST(Qcfs, BackwardIsStraightThroughAndPaperLambdaGradient) {
    at::manual_seed(2);
    const int64_t L = 4;
    const double lam = 1.3;
    const at::Tensor z0 = away_from_steps((at::rand({3000}, at::kDouble) * 3.0 - 1.0) * lam, lam, L);
    const at::Tensor z = z0.clone().requires_grad_(true);
    const at::Tensor l = at::full({}, lam, at::kDouble).requires_grad_(true);
    const at::Tensor w = at::randn({z0.numel()}, at::kDouble); // a non-uniform upstream gradient
    (qcfs_activation(z, l, L) * w).sum().backward();
    double glam = 0;
    for (int64_t i = 0; i < z0.numel(); ++i) {
        const auto g = qcfs_grad_ref(z0[i].item<double>(), lam, L);
        ASSERT_EQ(z.grad()[i].item<double>(), g.first * w[i].item<double>()) << "z " << z0[i].item<double>();
        glam += g.second * w[i].item<double>();
    }
    EXPECT_NEAR(l.grad().item<double>(), glam, 1e-9 * (1 + std::abs(glam)));

    // The official code's composition: x / up, floor with an identity backward, / L, clamp(0, 1), * up.
    const at::Tensor z2 = z0.clone().requires_grad_(true);
    const at::Tensor l2 = at::full({}, lam, at::kDouble).requires_grad_(true);
    const at::Tensor y = z2 / l2 * static_cast<double>(L) + 0.5;
    const at::Tensor ste = y + (at::floor(y) - y).detach();
    ((at::clamp(ste / static_cast<double>(L), 0.0, 1.0) * l2) * w).sum().backward();
    EXPECT_TRUE(at::allclose(z2.grad(), z.grad(), 0, 1e-12));
    EXPECT_NEAR(l2.grad().item<double>(), l.grad().item<double>(), 1e-9 * (1 + std::abs(glam)));
}

TEST(Qcfs, LambdaGradientAtHandPickedPoints) {
    // lambda 2, L 4: k = floor(2 z + 1/2)
    const at::Tensor z = at::tensor({0.9, 2.1, 3.0, -1.0, 0.1}, at::kDouble).requires_grad_(true);
    const at::Tensor l = at::full({}, 2.0, at::kDouble).requires_grad_(true);
    const at::Tensor a = qcfs_activation(z, l, 4);
    // k = 2, 4, 6 (> L: clipped at lambda), -2 (< 0: 0), 0 (inside: the rounding down to 0)
    const std::vector<double> want_a{1.0, 2.0, 2.0, 0.0, 0.0};
    const std::vector<double> want_gz{1, 1, 0, 0, 1};
    const std::vector<double> want_gl{0.5 - 0.45, 1.0 - 1.05, 1.0, 0.0, 0.0 - 0.05};
    for (int i = 0; i < 5; ++i) {
        const auto gi = torch::autograd::grad({a[i]}, {z, l}, {}, true);
        EXPECT_DOUBLE_EQ(a[i].item<double>(), want_a[i]) << i;
        EXPECT_DOUBLE_EQ(gi[0][i].item<double>(), want_gz[i]) << i;
        EXPECT_NEAR(gi[1].item<double>(), want_gl[i], 1e-12) << i;
    }
}

TEST(Qcfs, GraphNodeValidatesAndRoundTrips) {
    graph_builder b({3}, 2, 0);
    b.linear("fc1", 3, 5);
    b.qcfs("fc1.relu", 8, 1.75);
    b.linear("fc2", 5, 2);
    graph g = b.finish("custom");
    const auto bad = [&](auto change, const char * what) {
        graph h = g.clone();
        change(h.nodes[2]);
        EXPECT_THROW(h.validate(), snnkit::error) << what;
    };
    bad([](node & n) { n.attrs.levels = 0; }, "levels 0");
    bad([](node & n) { n.params["lambda"] = at::full({}, -1.0); }, "negative lambda");
    bad([](node & n) { n.params["lambda"] = at::full({}, NAN); }, "NaN lambda");
    bad([](node & n) { n.params["lambda"] = at::ones({2}); }, "lambda not 0-d");
    bad([](node & n) { n.params.erase("lambda"); }, "no lambda");

    const std::string dir = ::testing::TempDir() + "/qcfs_model";
    std::filesystem::remove_all(dir);
    save_model(dir, g);
    const graph r = load_model(dir);
    EXPECT_EQ(r.nodes[2].op, op_kind::qcfs);
    EXPECT_EQ(r.nodes[2].attrs.levels, 8);
    EXPECT_EQ(r.nodes[2].params.count("lambda"), 1u); // a trainable param, not a buffer
    EXPECT_FLOAT_EQ(r.nodes[2].tensor("lambda").item<float>(), 1.75f);
    const at::Tensor x = at::randn({16, 3});
    EXPECT_TRUE(at::equal(ann_forward(g, x), ann_forward(r, x)));
    std::filesystem::remove_all(dir);
}

TEST(Qcfs, ZooBuildsEveryNetworkWithQcfs) {
    for (const auto & arch : zoo_names()) {
        zoo_options o;
        o.arch = arch;
        const bool imagenet = arch == "resnet18" || arch == "resnet34";
        o.input_shape = arch == "cnn" || arch == "cnn-plif" ? std::vector<int64_t>{1, 28, 28}
                        : imagenet                         ? std::vector<int64_t>{3, 64, 64}
                                                           : std::vector<int64_t>{3, 32, 32};
        const graph relu = zoo_build(o);
        o.act = "qcfs";
        o.levels = 6;
        const graph q = zoo_build(o);
        ASSERT_EQ(q.nodes.size(), relu.nodes.size()) << arch;
        int acts = 0;
        for (size_t i = 0; i < q.nodes.size(); ++i) {
            EXPECT_EQ(q.nodes[i].name, relu.nodes[i].name);
            if (relu.nodes[i].op == op_kind::relu) {
                ++acts;
                EXPECT_EQ(q.nodes[i].op, op_kind::qcfs) << arch << " " << q.nodes[i].name;
                EXPECT_EQ(q.nodes[i].attrs.levels, 6);
            } else {
                EXPECT_EQ(q.nodes[i].op, relu.nodes[i].op);
            }
        }
        EXPECT_GT(acts, 0) << arch;
    }
    zoo_options o;
    o.act = "qcfs";
    o.clip = 1.0;
    EXPECT_THROW(zoo_build(o), snnkit::error);
    o.clip = 0;
    o.act = "gelu";
    EXPECT_THROW(zoo_build(o), snnkit::error);
}

TEST(Qcfs, LambdaStartsAtTheReluQuantileWithBatchStatistics) {
    at::manual_seed(3);
    graph g = tiny(6, 40, true, 4);
    node & bn = g.nodes[2];
    bn.params["weight"] = at::rand({40}) + 0.5;
    bn.params["bias"] = at::randn({40}) * 0.3;
    bn.buffers["running_mean"] = at::randn({40});
    const at::Tensor rm = bn.buffers["running_mean"].clone(), rv = bn.buffers["running_var"].clone();
    const at::Tensor x = at::randn({300, 6});
    // By hand: the BN with this batch's (biased) statistics, the ReLU, the 99.9th percentile.
    at::Tensor h = at::linear(x, g.nodes[1].params["weight"], g.nodes[1].params["bias"]);
    const at::Tensor mu = h.mean(0), var = h.var(0, false);
    h = (h - mu) / at::sqrt(var + 1e-5) * bn.params["weight"] + bn.params["bias"];
    const double want = sorted_quantile(at::relu(h), 0.999);

    qcfs_init_options qo;
    qo.levels = 5;
    EXPECT_EQ(qcfs_from_relu(g, x, qo), 1);
    const node & q = g.nodes[3];
    EXPECT_EQ(q.op, op_kind::qcfs);
    EXPECT_EQ(q.attrs.levels, 5);
    EXPECT_NEAR(q.tensor("lambda").item<double>(), want, 1e-5 * want);
    // the statistics pass ran on a copy: the running statistics are the model's own
    EXPECT_TRUE(at::equal(g.nodes[2].tensor("running_mean"), rm));
    EXPECT_TRUE(at::equal(g.nodes[2].tensor("running_var"), rv));

    // A clipped ReLU's lambda is the quantile of its clipped output (at most the clip).
    graph c = tiny(6, 40, false, 5);
    c.nodes[2].op = op_kind::clip_relu;
    c.nodes[2].attrs.clip = 0.05;
    qcfs_from_relu(c, x, qo);
    EXPECT_NEAR(c.nodes[2].tensor("lambda").item<double>(), 0.05, 1e-7);
}

TEST(Qcfs, LambdaMovesInTrainingAndTheLossFalls) {
    at::manual_seed(4);
    graph g = tiny(8, 32, true, 6);
    const at::Tensor x = at::randn({256, 8});
    const at::Tensor y = (x.slice(1, 0, 1).squeeze(1) * x.slice(1, 1, 2).squeeze(1) > 0).to(at::kLong);
    qcfs_init_options qo;
    qo.levels = 4;
    qcfs_from_relu(g, x, qo);
    const double lam0 = g.nodes[3].tensor("lambda").item<double>();
    for (auto & kv : g.named_params()) {
        kv.second.requires_grad_(true);
    }
    optimizer_options oo;
    oo.lr = 0.05;
    optimizer opt(g.named_params(), oo);
    forward_options fo;
    fo.train = true;
    double first = 0, last = 0;
    for (int step = 0; step < 60; ++step) {
        opt.zero_grad();
        const at::Tensor loss = at::cross_entropy_loss(ann_forward(g, x, fo), y);
        loss.backward();
        ASSERT_TRUE(g.nodes[3].tensor("lambda").grad().defined());
        opt.step(oo.lr);
        (step == 0 ? first : last) = loss.item<double>();
    }
    const double lam1 = g.nodes[3].tensor("lambda").item<double>();
    EXPECT_GT(std::abs(lam1 - lam0), 1e-3 * lam0) << lam0 << " -> " << lam1;
    EXPECT_GT(lam1, 0.0);
    EXPECT_LT(last, first);
}
