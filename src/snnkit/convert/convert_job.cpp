// snnkit/convert/convert_job.cpp
#include "snnkit/convert/convert_job.h"

#include "snnkit/core/error.h"
#include "snnkit/core/rng.h"
#include "snnkit/data/dataset_by_name.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/input_check.h"
#include "snnkit/stats/measure.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

namespace snnkit {

namespace {

bool any_step(const calib_options & c) {
    return c.threshold_search || c.bias_correction || c.potential_correction || c.weight_calibration;
}

// QCFS: v(0) = V_th/2 (half_init), the threshold search only with qcfs_lambda "search". Returns the settings
// recorded in the metadata.
nlohmann::json qcfs_settings(const graph & ann, const convert_job_options & opt, convert_options & conv,
                             calib_options & cal) {
    if (opt.qcfs_lambda != "keep" && opt.qcfs_lambda != "search") {
        fail("qcfs_lambda '" + opt.qcfs_lambda + "'", "unknown choice (known: keep, search)");
    }
    if (opt.conv.threshold == "search") {
        fail("threshold search", "a QCFS model's thresholds are its trained lambdas: refine them with qcfs_lambda 'search'");
    }
    const bool calibrating = any_step(cal);
    conv.half_init = true;
    cal.threshold_search = calibrating && opt.qcfs_lambda == "search";
    int64_t levels = 0;
    int layers = 0;
    for (const auto & n : ann.nodes) {
        if (n.op == op_kind::qcfs) {
            levels = levels == 0 || levels == n.attrs.levels ? n.attrs.levels : -1; // -1: mixed
            ++layers;
        }
    }
    return {{"levels", levels}, {"layers", layers}, {"lambda", opt.qcfs_lambda},
            {"v_th", "lambda"}, {"v0", "V_th/2"}, {"reset", "soft"}};
}

} // namespace

bool convert_job_calibrates(const convert_job_options & opt) {
    return any_step(opt.cal) || opt.conv.threshold == "search";
}

convert_job_result run_convert_job(const graph & ann_in, const std::string & ann_meta_json, const at::Tensor & images,
                                   const convert_job_options & opt) {
    const nlohmann::json meta = nlohmann::json::parse(ann_meta_json.empty() ? std::string("{}") : ann_meta_json,
                                                      nullptr, false);
    if (!meta.is_object()) {
        fail("convert", "the ANN's metadata is not a JSON object");
    }
    const std::string where = opt.source_model.empty() ? std::string("convert") : opt.source_model;
    if (meta.value("kind", "ann") != "ann") {
        fail(where, "is not an ANN (kind '" + meta.value("kind", "") + "')");
    }
    convert_job_result r;
    r.conv = opt.conv;
    r.cal = opt.cal;
    r.cal.threshold_search |= opt.conv.threshold == "search";
    if (r.cal.threshold_search && (opt.conv.threshold == "p99.9" || opt.conv.threshold == "p99.99")) {
        fail("threshold " + opt.conv.threshold, "the threshold search (calibration light/advanced) replaces it by a "
                                                "grid over (0, max]; leave one of them out");
    }
    if (r.conv.threshold == "search") {
        r.conv.threshold = "max"; // the search starts from the maximum
    }
    r.qcfs = is_qcfs_model(ann_in);
    const nlohmann::json qcfs = r.qcfs ? qcfs_settings(ann_in, opt, r.conv, r.cal) : nlohmann::json();
    const bool calibrating = any_step(r.cal);
    at::Tensor x;
    if (calibrating || opt.record_stats) {
        x = check_input_batch(images, ann_in.input_shape, "calibration images");
    }
    r.ann = ann_in.clone();
    if (opt.record_stats) {
        record_activation_stats(r.ann, x.slice(0, 0, std::max<int64_t>(1, opt.stats_samples)));
    }
    r.snn = convert_to_snn(r.ann, r.conv);
    nlohmann::json report = nlohmann::json::array();
    if (calibrating) {
        r.calib_images = x.size(0);
        r.report = calibrate(r.snn, ann_reference(r.ann), x, r.conv, r.cal);
        for (const auto & l : r.report.layers) {
            report.push_back({{"layer", l.name}, {"v_th_before", l.v_th_before}, {"v_th_after", l.v_th_after},
                              {"mse_before", l.mse_before}, {"mse_after", l.mse_after}});
        }
    }
    r.dataset = !opt.dataset.empty() ? opt.dataset : meta.value("dataset", std::string("fmnist"));
    nlohmann::json settings = {{"T", r.conv.T},
                               {"threshold", opt.conv.threshold},
                               {"channel_wise", r.conv.channel_wise},
                               {"bias_shift", r.conv.bias_shift},
                               {"half_init", r.conv.half_init},
                               {"calib", opt.calib},
                               {"threshold_search", r.cal.threshold_search},
                               {"bias_correction", r.cal.bias_correction},
                               {"potential_correction", r.cal.potential_correction},
                               {"weight_calibration", r.cal.weight_calibration},
                               {"calib_samples", r.calib_images},
                               {"memory_budget_mib", r.cal.memory_budget >> 20},
                               {"calib_chunk_images", r.report.chunk_images},
                               {"wc_images", r.report.wc_images},
                               {"wc_iters", r.cal.wc_iters},
                               {"wc_lr", r.cal.wc_lr}};
    if (r.qcfs) { // what the model was trained with and how its lambda was treated
        settings["qcfs"] = qcfs;
        settings["source_train"] = meta.value("train", nlohmann::json::object());
    }
    const nlohmann::json out_meta = {{"kind", "snn-converted"},
                                     {"dataset", r.dataset},
                                     {"classes", meta.value("classes", nlohmann::json::array())},
                                     {"preprocess", meta.value("preprocess", nlohmann::json::object())},
                                     {"source_model", opt.source_model},
                                     {"source_metrics", meta.value("metrics", nlohmann::json::object())},
                                     {"conversion", settings},
                                     {"calibration", report},
                                     {"calibration_seconds", r.report.seconds}};
    r.meta_json = out_meta.dump();
    r.settings_json = settings.dump();
    r.calibration_json = report.dump();
    return r;
}

at::Tensor calibration_images(const std::string & dataset, const std::string & dir, const std::string & meta_json,
                              int64_t n, uint64_t seed) {
    dataset_spec spec;
    spec.name = dataset;
    spec.dir = dir;
    const snnkit::dataset train = load_dataset(spec, split::train);
    n = std::min<int64_t>(n, train.images.size(0));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(seed, 0xc0de));
    const at::Tensor idx = at::randperm(train.images.size(0), gen, at::kLong).slice(0, 0, n);
    return make_batch(train.images, idx, model_preprocess(meta_json, dataset), 0);
}

} // namespace snnkit
