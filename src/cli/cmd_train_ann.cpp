// src/cli/cmd_train_ann.cpp: `snnkit train-ann` trains an ANN from the zoo and saves it with its
// activation statistics (which conversion needs).
#include "commands.h"
#include "train_common.h"

#include "snnkit/core/error.h"
#include "snnkit/io/model_io.h"
#include "snnkit/nn/act_stats.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <memory>

namespace snnkit_cli {

namespace {

struct train_ann_args {
    train_cli common;
    int64_t stats_samples = 1024;
};

void run(train_ann_args & args) {
    train_cli & a = args.common;
    const train_data d = prepare_training(a, "train-ann");
    snnkit::graph g = snnkit::zoo_build(a.zoo);
    resolve_eval_batch(a, g, d, 1, 1000);
    // The checkpoint keeps the model flags; a resume must build the same model.
    const std::string model_text = model_flags_text(a, g);
    snnkit::train_hooks hooks;
    hooks.save_state = [&]() { return nlohmann::json({{"model", model_text}}).dump(); };
    hooks.load_state = [&](const std::string & s) { // empty in checkpoints of older versions
        const nlohmann::json j = s.empty() ? nlohmann::json::object() : nlohmann::json::parse(s);
        check_model_flags(a.train.out_dir + "/checkpoint.safetensors", j.value("model", std::string()), model_text);
    };
    const snnkit::train_result r =
        snnkit::train_loop(g, snnkit::ann_forward_fn(g), d.train, d.test, a.train, hooks);
    if (r.interrupted) {
        snnkit::fail("train-ann", "training stopped before the end; resume with --resume");
    }

    // Activation statistics on the first N (seeded-permuted) unaugmented training images.
    const int64_t ns = std::min<int64_t>(args.stats_samples, d.train.images.size(0));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(a.train.seed + 17);
    const at::Tensor idx = at::randperm(d.train.images.size(0), gen, at::kLong).slice(0, 0, ns);
    const int layers =
        snnkit::record_activation_stats(g, snnkit::make_batch(d.train.images, idx, a.train.eval_preprocess, 0));

    const nlohmann::json hist = nlohmann::json::parse(snnkit::history_to_json(r.history));
    const auto & pre = a.train.eval_preprocess;
    nlohmann::json meta = {
        {"kind", "ann"},
        {"dataset", a.data.name},
        {"classes", d.train.class_names}, // ImageFolder folders / CIFAR names (none for IDX): eval checks them
        {"preprocess", {{"mean", pre.mean}, {"std", pre.std}}},
        {"train", [&] {
             nlohmann::json t = train_config_json(a, g);
             t["clip"] = a.zoo.clip;
             return t;
         }()},
        {"metrics",
         {{"test_accuracy", r.test_accuracy}, {"train_seconds", r.train_seconds}, {"epochs", r.epochs}}},
        {"stats_samples", ns},
        {"history", hist},
    };
    snnkit::save_model(a.train.out_dir, g, meta.dump());
    nlohmann::json result = {{"command", "train-ann"},
                             {"arch", a.zoo.arch},
                             {"dataset", a.data.name},
                             {"test_accuracy", r.test_accuracy},
                             {"epochs", r.epochs},
                             {"train_seconds", r.train_seconds},
                             {"peak_rss_mib", peak_rss_mib()},
                             {"stats_layers", layers},
                             {"model", a.train.out_dir},
                             {"history", hist}};
    result.update(train_inputs_json(a, d, g));
    write_json_file(a.json_path, result, train_data_used(a, d));
    std::fprintf(human_out(a.json_path), "test_accuracy %.2f %%  epochs %d  train_seconds %.1f  model %s\n", r.test_accuracy, r.epochs,
                r.train_seconds, a.train.out_dir.c_str());
}

void add_train_ann(CLI::App & app) {
    auto a = std::make_shared<train_ann_args>();
    CLI::App * s = app.add_subcommand("train-ann", "Train an ANN from the model zoo (SGD/Adam, cosine schedule)");
    add_train_flags(s, a->common);
    s->add_option("--clip", a->common.zoo.clip, "Train with clipped ReLUs at this value (0 = plain ReLU)")
        ->capture_default_str();
    s->add_option("--stats-samples", a->stats_samples, "Training images for activation statistics")->check(snnkit_cli::positive())
        ->capture_default_str();
    s->callback([a]() { run(*a); });
}

const command_registration reg(10, "train-ann", add_train_ann);

} // namespace

} // namespace snnkit_cli
