// tests/train/snn_model_test.cpp: hybrid initialisation of a trainable SNN from a trained ANN
// (snn_init_from): weights and BatchNorm statistics copied, thresholds kept, mismatches refused by name.
#include "snnkit/core/error.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/zoo.h"
#include "snnkit/train/snn_model.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

using namespace snnkit;

namespace {

graph zoo(const std::string & arch, int seed) {
    zoo_options o;
    o.arch = arch;
    o.seed = seed;
    return zoo_build(o);
}

std::string init_error(graph & snn, const graph & src) {
    try {
        snn_init_from(snn, src, "ann_dir");
    } catch (const snnkit::error & e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST(snn_init_from, copies_weights_and_bn_statistics_and_keeps_thresholds) {
    graph ann = zoo("cnn", 1);
    // BatchNorm running statistics as training leaves them (not the initial 0 / 1).
    for (auto & n : ann.nodes) {
        for (auto & kv : n.buffers) {
            if (kv.first == "running_mean" || kv.first == "running_var") {
                kv.second = at::rand(kv.second.sizes()) + 0.5;
            }
        }
    }
    snn_model_options o;
    o.v_th = 0.75;
    graph snn = snn_from_ann(zoo("cnn", 2), o); // a different seed: different initial weights
    const int conv1 = snn.find("conv1");
    ASSERT_FALSE(at::equal(snn.nodes[conv1].params.at("weight"), ann.nodes[ann.find("conv1")].params.at("weight")));

    snn_init_from(snn, ann, "ann_dir");
    int params = 0, buffers = 0, spikes = 0;
    for (const auto & n : snn.nodes) {
        const node & a = ann.nodes[ann.find(n.name)];
        for (const auto & kv : n.params) {
            EXPECT_TRUE(at::equal(kv.second, a.params.at(kv.first))) << n.name << "." << kv.first;
            EXPECT_NE(kv.second.data_ptr(), a.params.at(kv.first).data_ptr()) << "a copy, not shared storage";
            ++params;
        }
        if (n.op == op_kind::spike) {
            EXPECT_EQ(n.buffers.at("v_th").item<float>(), 0.75f) << n.name;
            ++spikes;
            continue;
        }
        for (const auto & kv : n.buffers) {
            EXPECT_TRUE(at::equal(kv.second, a.buffers.at(kv.first))) << n.name << "." << kv.first;
            ++buffers;
        }
    }
    EXPECT_GT(params, 0);
    EXPECT_GT(buffers, 0);
    EXPECT_GT(spikes, 0);

    // The initialised SNN computes the same as an SNN built from the ANN graph itself.
    const graph direct = snn_from_ann(ann, o);
    at::NoGradGuard ng;
    const at::Tensor x = at::randn({3, 1, 28, 28});
    snn_options so;
    so.T = 4;
    EXPECT_TRUE(at::equal(snn_forward(snn, x, so).out, snn_forward(direct, x, so).out));
}

TEST(snn_init_from, refuses_another_architecture_naming_the_layer) {
    graph snn = snn_from_ann(zoo("cnn", 0), snn_model_options{});
    const std::string other = init_error(snn, zoo("cnn-plif", 0));
    EXPECT_NE(other.find("ann_dir"), std::string::npos) << other;
    EXPECT_NE(other.find("layer 'conv1'"), std::string::npos) << other;
    EXPECT_NE(other.find("has shape [128, 1, 3, 3]"), std::string::npos) << other;

    graph renamed = zoo("cnn", 0);
    renamed.nodes[renamed.find("fc2")].name = "head";
    const std::string missing = init_error(snn, renamed);
    EXPECT_NE(missing.find("has no layer 'fc2'"), std::string::npos) << missing;
}
