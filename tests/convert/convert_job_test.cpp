// run_convert_job (the orchestration `snnkit convert` and snnkit.convert share) against the steps it strings
// together, called by hand: record_activation_stats -> convert_to_snn -> calibrate give the same SNN; its
// metadata describes what ran; bad images and contradicting settings are one snnkit::error each.
#include "snnkit/convert/convert_job.h"
#include "snnkit/core/error.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

using namespace snnkit;

namespace {

graph tiny_cnn() {
    graph_builder b({1, 8, 8}, 4, 3);
    b.conv2d("conv1", 1, 4, 3, 1, 1, true);
    b.relu("conv1.relu");
    b.flatten("flat");
    b.linear("fc1", 4 * 64, 16);
    b.relu("fc1.relu");
    b.linear("fc2", 16, 4);
    return b.finish("custom");
}

std::string error_of(const at::Tensor & x, const convert_job_options & opt) {
    try {
        run_convert_job(tiny_cnn(), model_meta{}, x, opt);
    } catch (const snnkit::error & e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST(ConvertJob, SameSnnAsTheStepsByHandAndItsMetadata) {
    at::NoGradGuard ng;
    at::manual_seed(5);
    const at::Tensor x = at::randn({48, 1, 8, 8});
    convert_job_options opt;
    opt.conv.T = 6;
    opt.conv.bias_shift = true;
    opt.calib = "light";
    opt.cal = calib_preset("light");
    opt.cal.progress = false;
    opt.record_stats = true;
    opt.stats_samples = 32;
    opt.dataset = "fmnist";
    model_meta ann_meta;
    ann_meta.kind = "ann";
    ann_meta.metrics = metrics_meta{};
    ann_meta.metrics->test_accuracy = 87.5;
    ann_meta.mean = {0.5f};
    ann_meta.std = {0.25f};
    const convert_job_result r = run_convert_job(tiny_cnn(), ann_meta, x, opt);

    graph ann = tiny_cnn();
    record_activation_stats(ann, x.slice(0, 0, 32));
    graph snn = convert_to_snn(ann, opt.conv);
    calibrate(snn, ann_reference(ann), x, opt.conv, opt.cal);
    snn_options so;
    so.T = 6;
    EXPECT_TRUE(at::equal(snn_forward(r.snn, x, so).out, snn_forward(snn, x, so).out));
    EXPECT_TRUE(at::equal(r.ann.nodes[2].buffers.at("act_max"), ann.nodes[2].buffers.at("act_max")));

    const model_meta & m = r.meta;
    EXPECT_EQ(m.kind, "snn-converted");
    EXPECT_EQ(m.dataset, "fmnist");
    EXPECT_EQ(m.mean, ann_meta.mean);
    EXPECT_EQ(m.std, ann_meta.std);
    ASSERT_TRUE(m.source_metrics.has_value());
    EXPECT_EQ(m.source_metrics->test_accuracy, 87.5);
    ASSERT_TRUE(m.conversion.has_value());
    EXPECT_EQ(m.conversion->T, 6);
    EXPECT_EQ(m.conversion->calib_samples, 48);
    EXPECT_EQ(m.conversion->calib, "light");
    EXPECT_TRUE(m.conversion->threshold_search && m.conversion->bias_correction && m.conversion->bias_shift);
    EXPECT_FALSE(m.conversion->qcfs.has_value());
    ASSERT_TRUE(m.calibration.has_value());
    ASSERT_EQ(m.calibration->size(), 2u);
    EXPECT_EQ(m.calibration->at(0).layer, "conv1.relu");
    EXPECT_EQ(r.calib_images, 48);
}

TEST(ConvertJob, BadImagesAndSettingsAreOneError) {
    convert_job_options opt;
    opt.record_stats = true;
    const at::Tensor x = at::randn({4, 1, 8, 8});
    EXPECT_EQ(error_of(x.to(at::kDouble), opt), "calibration images: tensor has dtype Double; expected float32 (use .float())");
    EXPECT_EQ(error_of(x.to(at::Device("meta")), opt),
              "calibration images: tensor is on device 'meta'; only CPU tensors are supported (use .cpu())");
    EXPECT_EQ(error_of(x.view({4, 8, 8}), opt), "calibration images: tensor has shape [4, 8, 8]; expected [N, 1, 8, 8]");
    EXPECT_EQ(error_of(x.view({4, 1, 4, 16}), opt), "calibration images: tensor has shape [4, 1, 4, 16]; expected [N, 1, 8, 8]");
    at::Tensor nan = x.clone();
    nan[2][0][3][3] = NAN;
    EXPECT_EQ(error_of(nan, opt), "calibration images: tensor contains NaN or Inf");
    EXPECT_EQ(error_of(at::Tensor(), opt), "calibration images: no tensor given");
    // non-contiguous images are used, not refused
    EXPECT_EQ(error_of(x.transpose(2, 3), opt), "");
    opt.conv.threshold = "p99.9";
    opt.cal = calib_preset("light");
    EXPECT_NE(error_of(x, opt).find("threshold p99.9: the threshold search"), std::string::npos);
    try {
        model_meta snn_meta;
        snn_meta.kind = "snn";
        run_convert_job(tiny_cnn(), snn_meta, x, convert_job_options{});
        FAIL() << "an SNN converted";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("is not an ANN (kind 'snn')"), std::string::npos) << e.what();
    }
}
