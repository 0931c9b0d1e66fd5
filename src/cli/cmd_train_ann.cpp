// src/cli/cmd_train_ann.cpp: `snnkit train-ann` trains an ANN from the zoo and saves it with its
// activation statistics (which conversion needs).
#include "commands.h"
#include "train_common.h"

#include "snnkit/core/error.h"
#include "snnkit/io/model_io.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/qcfs.h"
#include "snnkit/stats/measure.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

namespace snnkit_cli {

namespace {

struct train_ann_args {
    train_cli common;
    int64_t stats_samples = 1024;
    /// --init: fine-tune this saved ANN (train-ann, import-onnx) instead of a fresh zoo model
    std::string init_dir;
    /// --lambda-samples: training images of the QCFS lambda statistics
    int64_t lambda_samples = 256;
};

// Each QCFS layer's lambda.
std::map<std::string, double> qcfs_lambdas(const snnkit::graph & g) {
    std::map<std::string, double> lam;
    for (const auto & nd : g.nodes) {
        if (nd.op == snnkit::op_kind::qcfs) {
            lam[nd.name] = nd.tensor("lambda").item<double>();
        }
    }
    return lam;
}

// The model to train: a fresh zoo architecture, or (--init) a saved ANN with the model's own preprocessing.
// With --act qcfs every ReLU becomes a QCFS activation whose lambda starts at the p99.9 of the layer's ReLU
// output on --lambda-samples unaugmented training images (qcfs_from_relu); `qcfs` gets what was done.
snnkit::graph build_model(train_ann_args & args, const train_data & d, std::optional<snnkit::qcfs_train_meta> & qcfs) {
    train_cli & a = args.common;
    const CLI::App & s = *a.cli;
    refuse_unused_flags(s, {"--levels", "--lambda-samples"}, a.zoo.act == "qcfs", "has an effect only with --act qcfs");
    if (a.zoo.act != "relu" && a.zoo.act != "qcfs") {
        snnkit::fail("--act " + a.zoo.act, "unknown activation (known: relu, qcfs)");
    }
    if (a.zoo.act == "qcfs" && a.zoo.clip > 0) {
        snnkit::fail("--clip", "QCFS clips at its own trainable lambda (--act qcfs); leave out --clip");
    }
    snnkit::graph g;
    if (args.init_dir.empty()) {
        snnkit::zoo_options z = a.zoo;
        z.act = "relu"; // built with ReLUs, which qcfs_from_relu turns into QCFS with measured lambdas
        g = snnkit::zoo_build(z);
    } else {
        refuse_unused_flags(s, {"--arch", "--dropout", "--clip"}, false, "the model comes from --init");
        if (a.zoo.act != "qcfs") {
            snnkit::fail("--init", "fine-tunes a saved ANN into a QCFS one: give --act qcfs");
        }
        snnkit::model_meta meta;
        g = snnkit::load_model(args.init_dir, &meta);
        if (!meta.kind.empty() && meta.kind != "ann") {
            snnkit::fail(args.init_dir, "is not an ANN (kind '" + meta.kind + "')");
        }
        if (g.input_shape != a.zoo.input_shape || g.num_classes != a.zoo.num_classes) {
            snnkit::fail(args.init_dir, "model input " + nlohmann::json(g.input_shape).dump() + " with " +
                                            std::to_string(g.num_classes) + " classes does not fit the dataset (" +
                                            nlohmann::json(a.zoo.input_shape).dump() + ", " +
                                            std::to_string(a.zoo.num_classes) + " classes)");
        }
        snnkit::check_model_classes(meta, d.test, args.init_dir + " vs " + (a.data.dir.empty() ? a.data.name : a.data.dir));
        const snnkit::augment_options pre = snnkit::model_preprocess(meta, a.data.name);
        a.train.eval_preprocess.mean = a.train.augment.mean = pre.mean; // an imported model's own normalisation
        a.train.eval_preprocess.std = a.train.augment.std = pre.std;
        a.zoo.arch = g.arch;
    }
    if (a.zoo.act == "qcfs") {
        const int64_t n = std::min<int64_t>(args.lambda_samples, d.train.images.size(0));
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(a.train.seed + 29);
        const at::Tensor idx = at::randperm(d.train.images.size(0), gen, at::kLong).slice(0, 0, n);
        snnkit::qcfs_init_options qo;
        qo.levels = a.zoo.levels;
        const int layers = snnkit::qcfs_from_relu(g, snnkit::make_batch(d.train.images, idx, a.train.eval_preprocess, 0), qo);
        if (layers == 0) {
            snnkit::fail("--act qcfs", "the model has no ReLU to turn into a QCFS activation");
        }
        snnkit::qcfs_train_meta q;
        q.levels = a.zoo.levels;
        q.layers = layers;
        q.lambda_init = "p99.9 of the layer's ReLU output, BN batch statistics";
        q.lambda_samples = n;
        q.lambda_initial = qcfs_lambdas(g);
        q.lambda_weight_decay = a.train.optim.weight_decay;
        if (!args.init_dir.empty()) {
            q.init = std::filesystem::absolute(args.init_dir).string();
        }
        qcfs = q;
    }
    return g;
}

void run(train_ann_args & args) {
    train_cli & a = args.common;
    const train_data d = prepare_training(a, "train-ann");
    std::optional<snnkit::qcfs_train_meta> qcfs; // nullopt without --act qcfs
    snnkit::graph g = build_model(args, d, qcfs);
    resolve_eval_batch(a, g, d, 1, 1000);
    // The checkpoint keeps the model flags; a resume must build the same model.
    std::string model_text = model_flags_text(a, g);
    if (qcfs) {
        model_text += ", act qcfs, levels " + std::to_string(a.zoo.levels) + ", lambda samples " +
                      std::to_string(qcfs->lambda_samples) + (args.init_dir.empty() ? "" : ", init " + qcfs->init);
    }
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
    snnkit::model_meta meta;
    meta.kind = "ann";
    meta.dataset = a.data.name;
    meta.classes = d.train.class_names; // ImageFolder folders / CIFAR names (none for IDX): eval checks them
    meta.mean = pre.mean;
    meta.std = pre.std;
    meta.train = train_config(a, g);
    meta.train->clip = a.zoo.clip;
    meta.train->act = a.zoo.act;
    meta.train->qcfs = qcfs;
    meta.metrics = snnkit::metrics_meta{r.test_accuracy, r.train_seconds, r.epochs};
    meta.stats_samples = ns;
    meta.history = r.history;
    snnkit::save_model(a.train.out_dir, g, meta);
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
    result["act"] = a.zoo.act;
    if (qcfs) {
        result["qcfs"] = meta_json(meta)["train"]["qcfs"];
        result["qcfs"]["lambda_final"] = qcfs_lambdas(g); // after training
    }
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
    s->add_option("--act", a->common.zoo.act, "Activation: relu | qcfs (Bu et al.'s quantization clip-floor-shift, "
                                              "trainable lambda per layer; converts with V_th = lambda)")
        ->capture_default_str();
    s->add_option("--levels", a->common.zoo.levels, "QCFS quantisation levels L")->check(snnkit_cli::positive())
        ->capture_default_str();
    s->add_option("--init", a->init_dir, "Fine-tune this saved ANN (train-ann or import-onnx) into a QCFS one "
                                         "(with --act qcfs)");
    s->add_option("--lambda-samples", a->lambda_samples, "Training images of the QCFS lambda statistics")
        ->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--stats-samples", a->stats_samples, "Training images for activation statistics")->check(snnkit_cli::positive())
        ->capture_default_str();
    s->callback([a]() { run(*a); });
}

const command_registration reg(10, "train-ann", add_train_ann);

} // namespace

} // namespace snnkit_cli
