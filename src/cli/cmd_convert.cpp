// src/cli/cmd_convert.cpp: `snnkit convert` turns a trained ANN into a calibrated SNN.
#include "commands.h"

#include "snnkit/convert/convert_job.h"
#include "snnkit/core/error.h"
#include "snnkit/interop/onnx_model.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/model_io.h"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>

namespace snnkit_cli {

namespace {

struct convert_args {
    std::string model, onnx, out, dataset, data, json_path, calib = "none", qcfs_lambda = "keep";
    std::vector<float> mean, std;
    int64_t stats_samples = 1024;
    snnkit::convert_options conv;
    snnkit::calib_options cal;
    bool search = false, bc = false, pc = false, wc = false, no_half_step = false, quiet = false;
    int64_t calib_samples = 1024;
    int64_t memory_mib = snnkit::calib_default_memory_budget >> 20;
    int threads = 0;
};

// The SNN goes to --out: refused where that would replace the ANN being converted or any other trained ANN.
void refuse_overwriting_an_ann(const convert_args & a) {
    std::error_code ec;
    if (!std::filesystem::exists(a.out, ec)) {
        return;
    }
    if (std::filesystem::equivalent(a.out, a.model, ec)) {
        snnkit::fail("--out " + a.out, "is the ANN's own directory (--model): the SNN would overwrite it");
    }
    const std::string mj = a.out + "/model.json";
    if (std::filesystem::exists(mj, ec)) {
        const nlohmann::json j = nlohmann::json::parse(snnkit::read_file(mj), nullptr, false); // unreadable: no model
        if (j.is_object() && j.contains("meta") && j["meta"].is_object() &&
            j["meta"].value("kind", std::string()) == "ann") {
            snnkit::fail("--out " + a.out, "holds a trained ANN (kind 'ann'): the SNN would overwrite it; choose another --out");
        }
    }
}

// A model trained with QCFS activations (train-ann --act qcfs) converts with V_th = lambda and v(0) = V_th/2
// (run_convert_job, convert_job.h); here only the flags that would change nothing, or contradict that, are refused.
void refuse_qcfs_flags(const snnkit::graph & ann, const convert_args & a, const CLI::App & s,
                       const snnkit::calib_options & cal) {
    if (!snnkit::is_qcfs_model(ann)) {
        refuse_unused_flags(s, {"--qcfs-lambda"}, false, "applies only to a model trained with --act qcfs");
        return;
    }
    if (a.qcfs_lambda != "keep" && a.qcfs_lambda != "search") {
        snnkit::fail("--qcfs-lambda " + a.qcfs_lambda, "unknown choice (known: keep, search)");
    }
    if (s.count("--threshold-search") > 0 || a.conv.threshold == "search") {
        snnkit::fail(s.count("--threshold-search") > 0 ? "--threshold-search" : "--threshold search",
                     "a QCFS model's thresholds are its trained lambdas: refine them with --qcfs-lambda search");
    }
    const bool calibrating = cal.threshold_search || cal.bias_correction || cal.potential_correction || cal.weight_calibration;
    refuse_unused_flags(s, {"--qcfs-lambda"}, calibrating,
                        "has an effect only when calibrating (--calib light/advanced, --bc, --pc, --wc)");
    refuse_unused_flags(s, {"--grid"}, calibrating && a.qcfs_lambda == "search",
                        "a QCFS model's lambda is kept (--qcfs-lambda keep): no threshold search");
}

void run(convert_args & a, const CLI::App & s) {
    set_threads(a.threads, snnkit::runtime_memory::bounded);
    // Calibration settings: a preset, plus any explicit flags (checked before any model or data is read).
    snnkit::convert_job_options job;
    job.conv = a.conv;
    job.calib = a.calib;
    job.qcfs_lambda = a.qcfs_lambda;
    snnkit::calib_options & cal = job.cal;
    cal = snnkit::calib_preset(a.calib);
    cal.grid = a.cal.grid;
    cal.wc_iters = a.cal.wc_iters;
    cal.wc_lr = a.cal.wc_lr;
    cal.wc_batch = a.cal.wc_batch;
    cal.memory_budget = a.memory_mib << 20;
    cal.seed = a.cal.seed;
    cal.progress = !a.quiet;
    cal.threshold_search |= a.search || a.conv.threshold == "search";
    cal.bias_correction |= a.bc;
    cal.potential_correction |= a.pc;
    cal.weight_calibration |= a.wc;
    refuse_unused_flags(s, {"--no-half-step"}, cal.half_step, "has an effect only with --calib light|advanced");
    if (a.no_half_step && a.conv.half_init) {
        snnkit::fail("--no-half-step --half-init", "contradict each other: leave one out");
    }
    cal.half_step = cal.half_step && !a.no_half_step;
    refuse_unused_flags(s, {"--grid"}, cal.threshold_search,
                        "has an effect only with a threshold search (--calib light/advanced, --threshold-search)");
    refuse_unused_flags(s, {"--calib-samples", "--seed", "--memory-budget"}, snnkit::convert_job_calibrates(job),
                        "has an effect only when calibrating (--calib, --threshold-search, --bc, --pc, --wc)");
    refuse_unused_flags(s, {"--wc-iters", "--wc-lr", "--wc-batch"}, cal.weight_calibration,
                        "has an effect only with weight calibration (--calib advanced, --wc)");
    if (cal.threshold_search && (a.conv.threshold == "p99.9" || a.conv.threshold == "p99.99")) {
        snnkit::fail("--threshold " + a.conv.threshold,
                     "the threshold search (--calib light/advanced, --threshold-search) replaces it by a grid over "
                     "(0, max]; leave one of them out");
    }
    snnkit::model_meta meta;
    snnkit::graph ann;
    if (!a.onnx.empty()) {
        // Import, record statistics, and keep the imported ANN beside the SNN (eval compares against it).
        snnkit::onnx_model_options o;
        o.data.name = a.dataset.empty() ? "fmnist" : a.dataset;
        o.data.dir = a.data;
        o.mean = a.mean;
        o.std = a.std;
        o.stats_samples = a.stats_samples;
        snnkit::onnx_model m = snnkit::load_onnx_model(a.onnx, o);
        a.model = a.out + "/source_ann"; // written after the SNN, so a failed conversion writes nothing
        ann = std::move(m.g);
        meta = m.meta;
    } else {
        ann = snnkit::load_model(a.model, &meta);
    }
    refuse_overwriting_an_ann(a);
    job.source_model = std::filesystem::absolute(a.model).string();
    if (!meta.kind.empty() && meta.kind != "ann") {
        snnkit::fail(a.model, "is not an ANN (kind '" + meta.kind + "')");
    }
    refuse_qcfs_flags(ann, a, s, cal);
    job.dataset = !a.dataset.empty() ? a.dataset : meta.dataset.empty() ? "fmnist" : meta.dataset;
    at::Tensor x; // calibration images: --calib-samples of the training set, the model's normalisation
    if (snnkit::convert_job_calibrates(job)) {
        x = snnkit::calibration_images(job.dataset, a.data, meta, a.calib_samples, cal.seed);
    }
    const snnkit::convert_job_result r = snnkit::run_convert_job(ann, meta, x, job);
    if (r.calib_images > 0 && !a.quiet) {
        std::fprintf(stderr, "calibration took %.1f s on %lld images, streamed in chunks of %lld (memory budget %lld MiB)%s\n",
                     r.report.seconds, static_cast<long long>(r.calib_images), static_cast<long long>(r.report.chunk_images),
                     static_cast<long long>(a.memory_mib),
                     r.report.wc_images > 0 && r.report.wc_images < r.calib_images
                         ? (", WC on a sample of " + std::to_string(r.report.wc_images) + " images").c_str()
                         : "");
    }
    snnkit::save_model(a.out, r.snn, r.meta);
    if (!a.onnx.empty()) {
        snnkit::save_model(a.model, ann, meta);
    }
    const nlohmann::json saved = meta_json(r.meta);
    nlohmann::json result = {{"command", "convert"}, {"model", a.out}, {"conversion", saved["conversion"]},
                             {"calibration", saved["calibration"]}, {"calibration_seconds", r.report.seconds}};
    std::vector<data_used> data;
    if (r.calib_images > 0) {
        data.push_back({r.dataset, a.data, "train (calibration)", r.calib_images});
    }
    write_json_file(a.json_path, result, data);
    const std::string thr = r.qcfs ? "QCFS lambda, L " + std::to_string(r.meta.conversion->qcfs->levels) : a.conv.threshold;
    std::fprintf(human_out(a.json_path), "converted %s -> %s (T=%lld, threshold %s%s%s%s%s%s%s)\n", (a.onnx.empty() ? a.model : a.onnx).c_str(), a.out.c_str(),
                static_cast<long long>(r.conv.T), thr.c_str(), r.conv.bias_shift ? ", bias shift" : "",
                r.conv.half_init ? ", half init" : "", r.cal.threshold_search ? ", threshold search" : "",
                r.cal.bias_correction ? ", BC" : "", r.cal.potential_correction ? ", PC" : "",
                r.cal.weight_calibration ? ", WC" : "");
}

} // namespace

namespace {

void add_convert(CLI::App & app) {
    auto a = std::make_shared<convert_args>();
    CLI::App * s = app.add_subcommand("convert", "Convert a trained ANN to an SNN (threshold balancing + calibration)");
    CLI::Option * model = s->add_option("--model", a->model, "ANN model directory (from train-ann or import-onnx)");
    CLI::Option * onnx = s->add_option("--onnx", a->onnx, "Import this ONNX model instead (kept in OUT/source_ann)");
    model->excludes(onnx);
    s->add_option("--mean", a->mean, "With --onnx: per-channel input mean (default: the dataset's)")->needs(onnx);
    s->add_option("--std", a->std, "With --onnx: per-channel input std (default: the dataset's)")->needs(onnx);
    s->add_option("--stats-samples", a->stats_samples, "With --onnx: images for the activation statistics")->needs(onnx)->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--out", a->out, "Output SNN model directory")->required();
    s->add_option("--T", a->conv.T, "Simulation length the conversion targets")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--threshold", a->conv.threshold, "max | p99.9 | p99.99 | search")->capture_default_str();
    s->add_flag("--channel-wise", a->conv.channel_wise, "One threshold per channel");
    s->add_flag("--bias-shift", a->conv.bias_shift, "Deng & Gu bias shift b += V_th/(2T)");
    s->add_flag("--half-init", a->conv.half_init, "Initial potential V_th/2 (instead of --bias-shift)");
    s->add_option("--calib", a->calib,
                  "none | light (half step + threshold search + BC) | advanced (half step + threshold search + WC + PC). "
                  "Half step: v(0) = V_th/2, or the bias shift V_th/(2T) when --bias-shift is given (one half step, "
                  "never both)")
        ->capture_default_str();
    s->add_flag("--no-half-step", a->no_half_step, "With --calib light|advanced: leave out the preset's half-step shift");
    s->add_flag("--threshold-search", a->search, "Grid search of each layer's threshold");
    s->add_option("--qcfs-lambda", a->qcfs_lambda,
                  "QCFS model, when calibrating: keep the trained lambda as V_th, or search (refine it by the threshold "
                  "search, target clamp(x, 0, lambda))")
        ->capture_default_str();
    s->add_flag("--bc", a->bc, "Bias correction");
    s->add_flag("--pc", a->pc, "Potential correction");
    s->add_flag("--wc", a->wc, "Weight calibration");
    s->add_option("--grid", a->cal.grid, "Candidates in the threshold search")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--calib-samples", a->calib_samples, "Unaugmented training images used")->check(snnkit_cli::positive())->capture_default_str();
    snnkit_cli::add_memory_budget_option(s, a->memory_mib);
    s->add_option("--wc-iters", a->cal.wc_iters, "Weight-calibration Adam iterations per layer")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_option("--wc-lr", a->cal.wc_lr, "Weight-calibration learning rate (cosine)")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_option("--wc-batch", a->cal.wc_batch, "Weight-calibration batch size")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--dataset", a->dataset, "Dataset of the calibration data (default: the model's)");
    s->add_option("--data", a->data, "Dataset directory");
    s->add_option("--seed", a->cal.seed, "Seed of the calibration subset and WC batches")->capture_default_str();
    s->add_option("--json", a->json_path, "Write the conversion report as JSON ('-' = stdout)");
    s->add_option("--threads", a->threads, "Intra-op threads (0 = all cores)")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--quiet", a->quiet, "No progress output");
    s->callback([a, s]() {
        if (a->model.empty() && a->onnx.empty()) {
            snnkit::fail("convert", "give --model ANN_DIR or --onnx MODEL.onnx");
        }
        run(*a, *s);
    });
}

const command_registration reg(30, "convert", add_convert);

} // namespace

} // namespace snnkit_cli
