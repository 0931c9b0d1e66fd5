// Graph building, validation, BN folding exactness, the zoo's shapes and sizes, activation statistics.
#include "snnkit/core/error.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/bn_fold.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/zoo.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

using namespace snnkit;

namespace {

// Gives every BN node non-trivial statistics and affine parameters, as after training.
void randomise_bn(graph & g) {
    at::manual_seed(7);
    for (auto & n : g.nodes) {
        if (n.op == op_kind::batch_norm) {
            const int64_t c = n.attrs.in;
            n.params["weight"] = at::rand({c}) + 0.5;
            n.params["bias"] = at::randn({c}) * 0.2;
            n.buffers["running_mean"] = at::randn({c}) * 0.3;
            n.buffers["running_var"] = at::rand({c}) + 0.3;
        }
    }
}

int64_t count_params(const graph & g) {
    int64_t n = 0;
    for (const auto & kv : g.named_params()) n += kv.second.numel();
    return n;
}

} // namespace

TEST(graph, bn_fold_is_exact_for_cnn_vgg_and_resnet) {
    struct c {
        std::string arch;
        std::vector<int64_t> shape;
    };
    for (const c & cs : {c{"cnn", {1, 28, 28}}, c{"vgg16", {3, 32, 32}}, c{"resnet20-he", {3, 32, 32}}}) {
        zoo_options o;
        o.arch = cs.arch;
        o.input_shape = cs.shape;
        graph g = zoo_build(o);
        randomise_bn(g);
        at::manual_seed(8);
        std::vector<int64_t> xs{3};
        xs.insert(xs.end(), cs.shape.begin(), cs.shape.end());
        const at::Tensor x = at::randn(xs);
        at::NoGradGuard ng;
        const at::Tensor before = ann_forward(g, x);
        graph f = g.clone();
        const int folded = fold_batch_norm(f);
        int bn_left = 0;
        for (const auto & n : f.nodes) bn_left += n.op == op_kind::batch_norm;
        EXPECT_GT(folded, 0) << cs.arch;
        EXPECT_EQ(bn_left, 0) << cs.arch;
        const at::Tensor after = ann_forward(f, x);
        EXPECT_TRUE(at::allclose(before, after, 1e-4, 1e-4))
            << cs.arch << " max diff " << (before - after).abs().max().item<float>();
    }
}

TEST(graph, zoo_shapes_and_known_sizes) {
    struct c {
        std::string arch;
        std::vector<int64_t> shape;
        int64_t classes;
    };
    at::NoGradGuard ng;
    for (const c & cs : {c{"cnn", {1, 28, 28}, 10}, c{"cnn-plif", {1, 28, 28}, 10}, c{"vgg16", {3, 32, 32}, 10},
                         c{"resnet20", {3, 32, 32}, 10}, c{"resnet20-he", {3, 32, 32}, 100},
                         c{"resnet18", {3, 64, 64}, 7}, c{"resnet34", {3, 64, 64}, 7}}) {
        zoo_options o;
        o.arch = cs.arch;
        o.input_shape = cs.shape;
        o.num_classes = cs.classes;
        const graph g = zoo_build(o);
        std::vector<int64_t> xs{2};
        xs.insert(xs.end(), cs.shape.begin(), cs.shape.end());
        const at::Tensor y = ann_forward(g, at::randn(xs));
        EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, cs.classes})) << cs.arch;
    }
    // Parameter counts against the published / torchvision totals.
    zoo_options o;
    o.input_shape = {3, 224, 224};
    o.num_classes = 1000;
    o.arch = "resnet18";
    EXPECT_EQ(count_params(zoo_build(o)), 11689512); // torchvision resnet18
    o.arch = "resnet34";
    EXPECT_EQ(count_params(zoo_build(o)), 21797672); // torchvision resnet34
    o.input_shape = {3, 32, 32};
    o.num_classes = 10;
    o.arch = "resnet20-he"; // He et al.: 0.27 M with identity shortcuts; the 1x1 projections add 2.5 K
    const int64_t he = count_params(zoo_build(o));
    EXPECT_GT(he, 268000);
    EXPECT_LT(he, 276000);
    o.arch = "vgg16"; // 13 convs with bias (14,714,688) + one 512x10 linear (5,130) + BN affine (8,448)
    EXPECT_EQ(count_params(zoo_build(o)), 14714688 + 5130 + 2 * (64 * 2 + 128 * 2 + 256 * 3 + 512 * 6));
}

TEST(graph, validate_names_the_layer) {
    zoo_options o;
    graph g = zoo_build(o);
    g.nodes[1].params["weight"] = at::zeros({3, 3, 3, 3});
    try {
        g.validate();
        FAIL();
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("conv1"), std::string::npos) << e.what();
    }
    EXPECT_THROW(zoo_build(zoo_options{"nope"}), snnkit::error);
}

TEST(graph, activation_stats_max_and_percentiles) {
    // input -> relu: the statistics are those of relu(x) directly.
    graph_builder b({2, 4, 4}, 2, 0);
    b.relu("r");
    graph g = b.finish("custom");
    at::manual_seed(9);
    const at::Tensor x = at::randn({500, 2, 4, 4});
    act_stats_options so;
    so.batch_size = 64;
    EXPECT_EQ(record_activation_stats(g, x, so), 1);
    const node & r = g.nodes[1];
    const at::Tensor a = at::relu(x);
    EXPECT_FLOAT_EQ(r.buffers.at("act_max").item<float>(), a.max().item<float>());
    EXPECT_TRUE(at::allclose(r.buffers.at("act_channel_max"), a.transpose(0, 1).reshape({2, -1}).amax(1)));
    const at::Tensor sorted = std::get<0>(a.reshape({-1}).sort());
    const int64_t n = sorted.numel();
    EXPECT_FLOAT_EQ(r.buffers.at("act_p99_9").item<float>(), sorted[int64_t(std::ceil(0.999 * n)) - 1].item<float>());
    EXPECT_FLOAT_EQ(r.buffers.at("act_p99_99").item<float>(), sorted[int64_t(std::ceil(0.9999 * n)) - 1].item<float>());
}

TEST(graph, in_place_relu_in_training_gives_the_same_gradients) {
    // Training without an observer runs eligible ReLUs in place; with an observer it does not.
    zoo_options o;
    o.arch = "resnet20-he";
    o.input_shape = {3, 16, 16};
    o.dropout = 0;
    at::manual_seed(12);
    const at::Tensor x = at::randn({4, 3, 16, 16});
    const at::Tensor y = at::randint(10, {4}, at::kLong);
    std::vector<std::vector<at::Tensor>> grads;
    for (bool observe : {false, true}) {
        graph g = zoo_build(o);
        for (auto & kv : g.named_params()) kv.second.requires_grad_(true);
        forward_options fo;
        fo.train = true;
        if (observe) fo.observer = [](int, const node &, const at::Tensor &) {};
        at::cross_entropy_loss(ann_forward(g, x, fo), y).backward();
        std::vector<at::Tensor> gs;
        for (auto & kv : g.named_params()) gs.push_back(kv.second.grad().clone());
        grads.push_back(gs);
    }
    ASSERT_EQ(grads[0].size(), grads[1].size());
    for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_TRUE(at::allclose(grads[0][i], grads[1][i], 1e-5, 1e-6)) << i;
}

TEST(graph, relu_is_not_in_place_when_its_input_has_another_reader) {
    // fc1 feeds a p = 0 dropout (which returns fc1's tensor itself) before it feeds the ReLU: an in-place ReLU
    // would rewrite what fc2 then reads. Training forward with and without an observer must agree.
    graph_builder b({6}, 3, 1);
    const int fc1 = b.linear("fc1", 6, 6);
    const int drop = b.dropout("drop", 0.0, fc1);
    const int relu = b.relu("relu", fc1);
    const int fc2 = b.linear("fc2", 6, 3, true, drop);
    const int fc3 = b.linear("fc3", 6, 3, true, relu);
    b.add("sum", {fc2, fc3});
    const graph g = b.finish("custom");
    at::manual_seed(13);
    const at::Tensor x = at::randn({5, 6});
    forward_options plain, observed;
    plain.train = observed.train = true;
    observed.observer = [](int, const node &, const at::Tensor &) {};
    at::NoGradGuard ng;
    const at::Tensor a = ann_forward(g, x, plain), want = ann_forward(g, x, observed);
    EXPECT_TRUE(at::equal(a, want)) << "max diff " << (a - want).abs().max().item<float>();
}
