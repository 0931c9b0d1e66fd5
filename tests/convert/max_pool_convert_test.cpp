// Conversion of a net with max-pool: the pool becomes the gated spiking max-pool, the SNN approaches the ANN
// as T grows, calibration runs through it, and a saved SNN keeps the gate.
#include "convergence.h"

#include "snnkit/convert/calibrate.h"
#include "snnkit/convert/convert.h"
#include "snnkit/io/model_io.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <filesystem>

using namespace snnkit;

namespace {

// conv -> relu -> max-pool 3x3 / 2 pad 1 (the ResNet stem's) -> conv -> relu -> linear
graph pooled_cnn(uint64_t seed) {
    graph_builder b({1, 8, 8}, 10, seed);
    b.conv2d("conv1", 1, 6, 3, 1, 1, true);
    b.relu("conv1.relu");
    b.max_pool("maxpool", 3, 2, 1);
    b.conv2d("conv2", 6, 8, 3, 1, 1, true);
    b.relu("conv2.relu");
    b.flatten("flat");
    b.linear("fc", 8 * 16, 10);
    return b.finish("custom");
}

using snnkit_test::snn_rel_error;

} // namespace

TEST(convert_max_pool, gated_pool_follows_the_ann_as_T_grows) {
    at::manual_seed(2);
    const at::Tensor data = at::randn({64, 1, 8, 8});
    snnkit_test::expect_snn_approaches_ann(pooled_cnn(1), data, [](const graph & snn) {
        ASSERT_TRUE(snn.nodes[snn.find("maxpool")].attrs.gated);
    });
}

TEST(convert_max_pool, calibration_runs_through_the_pool_and_the_gate_is_saved) {
    graph ann = pooled_cnn(3);
    at::manual_seed(4);
    const at::Tensor cal = at::randn({128, 1, 8, 8}), held = at::randn({128, 1, 8, 8});
    record_activation_stats(ann, cal);
    const graph ref = ann_reference(ann);
    const at::Tensor y = ann_forward(ref, held).detach(); // (no NoGradGuard here: WC needs autograd)
    convert_options co;
    co.T = 8;
    const graph base = convert_to_snn(ann, co);
    for (const char * preset : {"light", "advanced"}) {
        graph snn = base.clone();
        calib_options o = calib_preset(preset);
        o.progress = false;
        o.wc_iters = 50;
        calibrate(snn, ref, cal, co, o);
        EXPECT_LT(snn_rel_error(snn, held, y, co.T), snn_rel_error(base, held, y, co.T)) << preset;
    }
    const std::string dir = std::string(SNNKIT_BINARY_DIR) + "/tmp_convert/max_pool";
    std::filesystem::remove_all(dir);
    save_model(dir, base);
    const graph back = load_model(dir);
    EXPECT_TRUE(back.nodes[back.find("maxpool")].attrs.gated);
    snn_options so;
    so.T = co.T;
    EXPECT_TRUE(at::equal(snn_forward(base, held, so).out, snn_forward(back, held, so).out));
}
