// snnkit/convert/convert_job.cpp
#include "snnkit/convert/convert_job.h"

#include "snnkit/core/error.h"
#include "snnkit/core/rng.h"
#include "snnkit/data/dataset_by_name.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/input_check.h"
#include "snnkit/data/model_data.h"

#include <ATen/CPUGeneratorImpl.h>
#include <optional>

namespace snnkit {

namespace {

bool any_step(const calib_options & c) {
    return c.threshold_search || c.bias_correction || c.potential_correction || c.weight_calibration;
}

// QCFS: v(0) = V_th/2 (half_init), the threshold search only with qcfs_lambda "search". Returns the settings
// recorded in the metadata.
qcfs_conversion_meta qcfs_settings(const graph & ann, const convert_job_options & opt, convert_options & conv,
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
    qcfs_conversion_meta q;
    for (const auto & n : ann.nodes) {
        if (n.op == op_kind::qcfs) {
            q.levels = q.levels == 0 || q.levels == n.attrs.levels ? n.attrs.levels : -1; // -1: mixed
            ++q.layers;
        }
    }
    q.lambda = opt.qcfs_lambda;
    q.v_th = "lambda";
    q.v0 = "V_th/2";
    q.reset = "soft";
    return q;
}

} // namespace

bool convert_job_calibrates(const convert_job_options & opt) {
    return any_step(opt.cal) || opt.conv.threshold == "search";
}

convert_job_result run_convert_job(const graph & ann_in, const model_meta & meta, const at::Tensor & images,
                                   const convert_job_options & opt) {
    const std::string where = opt.source_model.empty() ? std::string("convert") : opt.source_model;
    if (!meta.kind.empty() && meta.kind != "ann") {
        fail(where, "is not an ANN (kind '" + meta.kind + "')");
    }
    convert_job_result r;
    r.conv = calib_conversion(opt.conv, opt.cal); // the presets' half step
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
    std::optional<qcfs_conversion_meta> qcfs;
    if (r.qcfs) {
        qcfs = qcfs_settings(ann_in, opt, r.conv, r.cal);
    }
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
    std::vector<layer_calibration_meta> report;
    if (calibrating) {
        r.calib_images = x.size(0);
        r.report = calibrate(r.snn, ann_reference(r.ann), x, r.conv, r.cal);
        for (const auto & l : r.report.layers) {
            layer_calibration_meta lm;
            lm.layer = l.name;
            lm.v_th_before = l.v_th_before;
            lm.v_th_after = l.v_th_after;
            lm.mse_before = l.mse_before;
            lm.mse_after = l.mse_after;
            report.push_back(lm);
        }
    }
    r.dataset = !opt.dataset.empty() ? opt.dataset : meta.dataset.empty() ? "fmnist" : meta.dataset;
    conversion_meta settings;
    settings.T = r.conv.T;
    settings.threshold = opt.conv.threshold;
    settings.channel_wise = r.conv.channel_wise;
    settings.bias_shift = r.conv.bias_shift;
    settings.half_init = r.conv.half_init;
    settings.calib = opt.calib;
    settings.half_step = r.cal.half_step;
    settings.threshold_search = r.cal.threshold_search;
    settings.bias_correction = r.cal.bias_correction;
    settings.potential_correction = r.cal.potential_correction;
    settings.weight_calibration = r.cal.weight_calibration;
    settings.calib_samples = r.calib_images;
    settings.memory_budget_mib = r.cal.memory_budget >> 20;
    settings.calib_chunk_images = r.report.chunk_images;
    settings.wc_images = r.report.wc_images;
    settings.wc_iters = r.cal.wc_iters;
    settings.wc_lr = r.cal.wc_lr;
    if (qcfs) { // what the model was trained with and how its lambda was treated
        settings.qcfs = qcfs;
        settings.source_train = meta.train.value_or(train_meta{});
    }
    r.meta.kind = "snn-converted";
    r.meta.dataset = r.dataset;
    r.meta.classes = meta.classes;
    r.meta.mean = meta.mean;
    r.meta.std = meta.std;
    r.meta.source_model = opt.source_model;
    r.meta.source_metrics = meta.metrics.value_or(metrics_meta{});
    r.meta.conversion = settings;
    r.meta.calibration = report;
    r.meta.calibration_seconds = r.report.seconds;
    return r;
}

at::Tensor calibration_images(const std::string & dataset, const std::string & dir, const model_meta & meta,
                              int64_t n, uint64_t seed) {
    dataset_spec spec;
    spec.name = dataset;
    spec.dir = dir;
    const snnkit::dataset train = load_dataset(spec, split::train);
    n = std::min<int64_t>(n, train.images.size(0));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(seed, 0xc0de));
    const at::Tensor idx = at::randperm(train.images.size(0), gen, at::kLong).slice(0, 0, n);
    return make_batch(train.images, idx, model_preprocess(meta, dataset), 0);
}

} // namespace snnkit
