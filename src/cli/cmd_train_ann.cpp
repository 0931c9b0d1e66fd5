// src/cli/cmd_train_ann.cpp: `snnkit train-ann` trains an ANN from the zoo and saves it with its
// activation statistics (which conversion needs): flags -> snnkit::train_ann (snnkit/train/train_job.h).
#include "commands.h"
#include "train_common.h"

#include <cstdio>
#include <memory>

namespace snnkit_cli {

namespace {

struct train_ann_args {
    train_cli common;
    /// --init, --lambda-samples, --stats-samples (its job options come from `common`)
    snnkit::train_ann_options ann;
};

void run(train_ann_args & args) {
    const train_cli & a = args.common;
    refuse_unused_flags(*a.cli, {"--levels", "--lambda-samples"}, a.zoo.act == "qcfs", "has an effect only with --act qcfs");
    refuse_unused_flags(*a.cli, {"--arch", "--dropout", "--clip"}, args.ann.init_dir.empty(), "the model comes from --init");
    snnkit::train_ann_options o = args.ann;
    o.job = job_options(a);
    const snnkit::train_job_result r = snnkit::train_ann(o);
    finish_training(a, r, "train-ann");
    std::fprintf(human_out(a.json_path), "test_accuracy %.2f %%  epochs %d  train_seconds %.1f  model %s\n",
                 r.train.test_accuracy, r.train.epochs, r.train.train_seconds, a.train.out_dir.c_str());
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
    s->add_option("--init", a->ann.init_dir, "Fine-tune this saved ANN (train-ann or import-onnx) into a QCFS one "
                                         "(with --act qcfs)");
    s->add_option("--lambda-samples", a->ann.lambda_samples, "Training images of the QCFS lambda statistics")
        ->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--stats-samples", a->ann.stats_samples, "Training images for activation statistics")->check(snnkit_cli::positive())
        ->capture_default_str();
    s->callback([a]() { run(*a); });
}

const command_registration reg(10, "train-ann", add_train_ann);

} // namespace

} // namespace snnkit_cli
