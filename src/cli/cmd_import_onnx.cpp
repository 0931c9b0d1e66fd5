// src/cli/cmd_import_onnx.cpp: `snnkit import-onnx MODEL.onnx --out ANN_DIR` imports a PyTorch-exported CNN
// and records its activation statistics, so every conversion and calibration option works on it.
#include "commands.h"

#include "snnkit/interop/onnx_model.h"
#include "snnkit/io/model_io.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

namespace snnkit_cli {

namespace {

struct import_onnx_args {
    std::string file, out, json_path;
    snnkit::onnx_model_options opt;
    int threads = 0;
};

void run(import_onnx_args & a) {
    set_threads(a.threads);
    const snnkit::onnx_model m = snnkit::load_onnx_model(a.file, a.opt);
    snnkit::save_model(a.out, m.g, m.meta);
    int64_t params = 0;
    for (const auto & kv : m.g.named_params()) {
        params += kv.second.numel();
    }
    nlohmann::json result = {{"command", "import-onnx"}, {"onnx", a.file},         {"model", a.out},
                              {"nodes", m.g.nodes.size()}, {"params", params},     {"classes", m.g.num_classes},
                              {"stats_layers", m.stats_layers}, {"stats_images", m.stats_images}};
    write_json_file(a.json_path, result, {{a.opt.data.name, a.opt.data.dir, "train (activation statistics)", m.stats_images}});
    std::fprintf(human_out(a.json_path), "imported %s -> %s: %zu nodes, %lld parameters, %lld classes; statistics of %d layers on %lld images\n",
                a.file.c_str(), a.out.c_str(), m.g.nodes.size(), static_cast<long long>(params),
                static_cast<long long>(m.g.num_classes), m.stats_layers, static_cast<long long>(m.stats_images));
}

void add_import_onnx(CLI::App & app) {
    auto a = std::make_shared<import_onnx_args>();
    CLI::App * s = app.add_subcommand("import-onnx", "Import an ANN from ONNX (torch.onnx.export) and record its statistics");
    s->add_option("file", a->file, "ONNX model file")->required();
    s->add_option("--out", a->out, "Output ANN model directory")->required();
    s->add_option("--dataset", a->opt.data.name, "Dataset of the statistics images (and of later eval)")->capture_default_str();
    s->add_option("--data", a->opt.data.dir, "Dataset directory");
    s->add_option("--mean", a->opt.mean, "Per-channel input mean the model expects (default: the dataset's)");
    s->add_option("--std", a->opt.std, "Per-channel input std the model expects (default: the dataset's)");
    s->add_option("--stats-samples", a->opt.stats_samples, "Unaugmented training images for the statistics")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--seed", a->opt.seed, "Seed of the statistics subset")->capture_default_str();
    s->add_option("--json", a->json_path, "Write a summary as JSON ('-' = stdout)");
    s->add_option("--threads", a->threads, "Intra-op threads (0 = all cores)")->check(snnkit_cli::non_negative())->capture_default_str();
    s->callback([a]() { run(*a); });
}

const command_registration reg(25, "import-onnx", add_import_onnx);

} // namespace

} // namespace snnkit_cli
