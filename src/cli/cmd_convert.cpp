// src/cli/cmd_convert.cpp: `snnkit convert` turns a trained ANN into a calibrated SNN.
#include "commands.h"

#include "snnkit/convert/calibrate.h"
#include "snnkit/convert/convert.h"
#include "snnkit/core/error.h"
#include "snnkit/core/rng.h"
#include "snnkit/data/dataset_by_name.h"
#include "snnkit/io/model_io.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>

namespace snnkit_cli {

namespace {

struct convert_args {
    std::string model, out, dataset, data, json_path, calib = "none";
    snnkit::convert_options conv;
    snnkit::calib_options cal;
    bool search = false, bc = false, pc = false, wc = false, quiet = false;
    int64_t calib_samples = 1024;
    int threads = 0;
};

void run(convert_args & a) {
    set_threads(a.threads);
    std::string meta_text;
    const snnkit::graph ann = snnkit::load_model(a.model, &meta_text);
    const nlohmann::json meta = nlohmann::json::parse(meta_text);
    if (meta.value("kind", "ann") != "ann") {
        snnkit::fail(a.model, "is not an ANN (kind '" + meta.value("kind", "") + "')");
    }
    // Calibration settings: a preset, plus any explicit flags.
    snnkit::calib_options cal = snnkit::calib_preset(a.calib);
    cal.grid = a.cal.grid;
    cal.wc_iters = a.cal.wc_iters;
    cal.wc_lr = a.cal.wc_lr;
    cal.wc_batch = a.cal.wc_batch;
    cal.seed = a.cal.seed;
    cal.progress = !a.quiet;
    cal.threshold_search |= a.search || a.conv.threshold == "search";
    cal.bias_correction |= a.bc;
    cal.potential_correction |= a.pc;
    cal.weight_calibration |= a.wc;
    snnkit::convert_options conv = a.conv;
    if (conv.threshold == "search") {
        conv.threshold = "max"; // the search starts from the maximum
    }
    snnkit::graph snn = snnkit::convert_to_snn(ann, conv);
    nlohmann::json report = nlohmann::json::array();
    const bool calibrating = cal.threshold_search || cal.bias_correction || cal.potential_correction || cal.weight_calibration;
    double calib_seconds = 0;
    const std::string ds = a.dataset.empty() ? meta.value("dataset", std::string("fmnist")) : a.dataset;
    if (calibrating) {
        snnkit::dataset_spec spec;
        spec.name = ds;
        spec.dir = a.data;
        const snnkit::dataset train = snnkit::load_dataset(spec, snnkit::split::train);
        const int64_t n = std::min<int64_t>(a.calib_samples, train.images.size(0));
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(snnkit::rng_mix(cal.seed, 0xc0de));
        const at::Tensor idx = at::randperm(train.images.size(0), gen, at::kLong).slice(0, 0, n);
        const at::Tensor x = snnkit::make_batch(train.images, idx, snnkit::dataset_preprocess(ds), 0);
        const snnkit::calib_report rep = snnkit::calibrate(snn, snnkit::ann_reference(ann), x, conv, cal);
        calib_seconds = rep.seconds;
        for (const auto & l : rep.layers) {
            report.push_back({{"layer", l.name}, {"v_th_before", l.v_th_before}, {"v_th_after", l.v_th_after},
                              {"mse_before", l.mse_before}, {"mse_after", l.mse_after}});
        }
        if (!a.quiet) {
            std::fprintf(stderr, "calibration took %.1f s on %lld images\n", rep.seconds, static_cast<long long>(n));
        }
    }
    nlohmann::json settings = {{"T", conv.T},
                               {"threshold", a.conv.threshold},
                               {"channel_wise", conv.channel_wise},
                               {"bias_shift", conv.bias_shift},
                               {"half_init", conv.half_init},
                               {"calib", a.calib},
                               {"threshold_search", cal.threshold_search},
                               {"bias_correction", cal.bias_correction},
                               {"potential_correction", cal.potential_correction},
                               {"weight_calibration", cal.weight_calibration},
                               {"calib_samples", calibrating ? a.calib_samples : 0},
                               {"wc_iters", cal.wc_iters},
                               {"wc_lr", cal.wc_lr}};
    nlohmann::json out_meta = {{"kind", "snn-converted"},
                               {"dataset", ds},
                               {"preprocess", meta.value("preprocess", nlohmann::json::object())},
                               {"source_model", std::filesystem::absolute(a.model).string()},
                               {"source_metrics", meta.value("metrics", nlohmann::json::object())},
                               {"conversion", settings},
                               {"calibration", report},
                               {"calibration_seconds", calib_seconds}};
    snnkit::save_model(a.out, snn, out_meta.dump());
    nlohmann::json result = {{"command", "convert"}, {"model", a.out}, {"conversion", settings},
                             {"calibration", report}, {"calibration_seconds", calib_seconds}};
    write_json_file(a.json_path, result.dump(2));
    std::printf("converted %s -> %s (T=%lld, threshold %s%s%s%s%s%s%s)\n", a.model.c_str(), a.out.c_str(),
                static_cast<long long>(conv.T), a.conv.threshold.c_str(), conv.bias_shift ? ", bias shift" : "",
                conv.half_init ? ", half init" : "", cal.threshold_search ? ", threshold search" : "",
                cal.bias_correction ? ", BC" : "", cal.potential_correction ? ", PC" : "",
                cal.weight_calibration ? ", WC" : "");
}

} // namespace

namespace {

void add_convert(CLI::App & app) {
    auto a = std::make_shared<convert_args>();
    CLI::App * s = app.add_subcommand("convert", "Convert a trained ANN to an SNN (threshold balancing + calibration)");
    s->add_option("--model", a->model, "ANN model directory (from train-ann)")->required();
    s->add_option("--out", a->out, "Output SNN model directory")->required();
    s->add_option("--T", a->conv.T, "Simulation length the conversion targets")->capture_default_str();
    s->add_option("--threshold", a->conv.threshold, "max | p99.9 | p99.99 | search")->capture_default_str();
    s->add_flag("--channel-wise", a->conv.channel_wise, "One threshold per channel");
    s->add_flag("--bias-shift", a->conv.bias_shift, "Deng & Gu bias shift b += V_th/(2T)");
    s->add_flag("--half-init", a->conv.half_init, "Initial potential V_th/2");
    s->add_option("--calib", a->calib, "none | light (search + BC) | advanced (search + WC + PC)")->capture_default_str();
    s->add_flag("--threshold-search", a->search, "Grid search of each layer's threshold");
    s->add_flag("--bc", a->bc, "Bias correction");
    s->add_flag("--pc", a->pc, "Potential correction");
    s->add_flag("--wc", a->wc, "Weight calibration");
    s->add_option("--grid", a->cal.grid, "Candidates in the threshold search")->capture_default_str();
    s->add_option("--calib-samples", a->calib_samples, "Unaugmented training images used")->capture_default_str();
    s->add_option("--wc-iters", a->cal.wc_iters, "Weight-calibration Adam iterations per layer")->capture_default_str();
    s->add_option("--wc-lr", a->cal.wc_lr, "Weight-calibration learning rate (cosine)")->capture_default_str();
    s->add_option("--wc-batch", a->cal.wc_batch, "Weight-calibration batch size")->capture_default_str();
    s->add_option("--dataset", a->dataset, "Dataset of the calibration data (default: the model's)");
    s->add_option("--data", a->data, "Dataset directory");
    s->add_option("--seed", a->cal.seed, "Seed of the calibration subset and WC batches")->capture_default_str();
    s->add_option("--json", a->json_path, "Write the conversion report as JSON ('-' = stdout)");
    s->add_option("--threads", a->threads, "Intra-op threads (0 = all cores)")->capture_default_str();
    s->add_flag("--quiet", a->quiet, "No progress output");
    s->callback([a]() { run(*a); });
}

const command_registration reg(30, "convert", add_convert);

} // namespace

} // namespace snnkit_cli
