// src/cli/cmd_train_ann.cpp: `snnkit train-ann` trains an ANN from the zoo and saves it with its
// activation statistics (which conversion needs).
#include "commands.h"

#include "snnkit/core/error.h"
#include "snnkit/data/dataset_by_name.h"
#include "snnkit/io/model_io.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/zoo.h"
#include "snnkit/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

namespace snnkit_cli {

namespace {

struct train_ann_args {
    snnkit::dataset_spec data;
    snnkit::zoo_options zoo;
    snnkit::trainer_options train;
    std::string json_path;
    int threads = 0;
    int64_t stats_samples = 1024;
    int64_t limit_train = 0;
    int64_t limit_test = 0;
    bool no_augment = false;
    bool quiet = false;
};

snnkit::dataset head(const snnkit::dataset & d, int64_t n) {
    if (n <= 0 || n >= d.images.size(0)) {
        return d;
    }
    snnkit::dataset r = d;
    r.images = d.images.slice(0, 0, n).contiguous();
    r.labels = d.labels.slice(0, 0, n).contiguous();
    return r;
}

void run(train_ann_args & a) {
    set_threads(a.threads);
    if (a.train.out_dir.empty()) {
        snnkit::fail("--out", "an output directory is required");
    }
    const snnkit::dataset train = head(snnkit::load_dataset(a.data, snnkit::split::train), a.limit_train);
    const snnkit::dataset test = head(snnkit::load_dataset(a.data, snnkit::split::test), a.limit_test);
    a.zoo.input_shape = train.images.sizes().slice(1).vec();
    a.zoo.num_classes = train.num_classes;
    snnkit::graph g = snnkit::zoo_build(a.zoo);
    a.train.eval_preprocess = snnkit::dataset_preprocess(a.data.name);
    a.train.augment = a.no_augment ? a.train.eval_preprocess : snnkit::dataset_augment(a.data.name);
    a.train.progress = !a.quiet;
    if (!a.quiet) {
        int64_t nparams = 0;
        for (const auto & kv : g.named_params()) {
            nparams += kv.second.numel();
        }
        std::fprintf(stderr, "train-ann: %s on %s (%lld train / %lld test images, %lld classes), %.2f M params, %d threads\n",
                     a.zoo.arch.c_str(), a.data.name.c_str(), static_cast<long long>(train.images.size(0)),
                     static_cast<long long>(test.images.size(0)), static_cast<long long>(train.num_classes),
                     nparams / 1e6, at::get_num_threads());
    }
    const snnkit::train_result r = snnkit::train_loop(g, snnkit::ann_forward_fn(g), train, test, a.train);
    if (r.interrupted) {
        snnkit::fail("train-ann", "training stopped before the end; resume with --resume");
    }

    // Activation statistics on the first N (seeded-permuted) unaugmented training images.
    const int64_t ns = std::min<int64_t>(a.stats_samples, train.images.size(0));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(a.train.seed + 17);
    const at::Tensor idx = at::randperm(train.images.size(0), gen, at::kLong).slice(0, 0, ns);
    const int layers = snnkit::record_activation_stats(g, snnkit::make_batch(train.images, idx, a.train.eval_preprocess, 0));

    nlohmann::json hist = nlohmann::json::array();
    for (const auto & m : r.history) {
        hist.push_back({{"epoch", m.epoch}, {"train_loss", m.train_loss}, {"train_accuracy", m.train_accuracy},
                        {"test_accuracy", m.test_accuracy}, {"lr", m.lr}, {"seconds", m.seconds}});
    }
    const auto & pre = a.train.eval_preprocess;
    nlohmann::json meta = {
        {"kind", "ann"},
        {"dataset", a.data.name},
        {"preprocess", {{"mean", pre.mean}, {"std", pre.std}}},
        {"train",
         {{"epochs", a.train.epochs}, {"batch_size", a.train.batch_size}, {"optimizer", a.train.optim.kind},
          {"lr", a.train.optim.lr}, {"weight_decay", a.train.optim.weight_decay}, {"momentum", a.train.optim.momentum},
          {"schedule", a.train.schedule}, {"seed", a.train.seed}, {"augment", !a.no_augment},
          {"clip", a.zoo.clip}, {"threads", at::get_num_threads()}}},
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
                             {"stats_layers", layers},
                             {"model", a.train.out_dir},
                             {"history", hist}};
    write_json_file(a.json_path, result.dump(2));
    std::printf("test_accuracy %.2f %%  epochs %d  train_seconds %.1f  model %s\n", r.test_accuracy, r.epochs,
                r.train_seconds, a.train.out_dir.c_str());
}

} // namespace

namespace {

void add_train_ann(CLI::App & app) {
    auto a = std::make_shared<train_ann_args>();
    CLI::App * s = app.add_subcommand("train-ann", "Train an ANN from the model zoo (SGD/Adam, cosine schedule)");
    s->add_option("--dataset", a->data.name, "fmnist | mnist | cifar10 | cifar100 | imagefolder")
        ->capture_default_str();
    s->add_option("--data", a->data.dir, "Dataset directory (fmnist default: /usr/share/datasets/fashion-mnist)");
    s->add_option("--arch", a->zoo.arch, "cnn | cnn-plif | vgg16 | resnet20 | resnet20-he | resnet18 | resnet34")
        ->capture_default_str();
    s->add_option("--epochs", a->train.epochs, "Training epochs")->capture_default_str();
    s->add_option("--batch-size", a->train.batch_size, "Batch size")->capture_default_str();
    s->add_option("--optimizer", a->train.optim.kind, "sgd | adam | adamw")->capture_default_str();
    s->add_option("--lr", a->train.optim.lr, "Peak learning rate")->capture_default_str();
    s->add_option("--lr-min", a->train.lr_min, "Final learning rate of the cosine schedule")->capture_default_str();
    s->add_option("--schedule", a->train.schedule, "cosine | constant")->capture_default_str();
    s->add_option("--momentum", a->train.optim.momentum, "SGD momentum")->capture_default_str();
    s->add_flag("--nesterov", a->train.optim.nesterov, "Nesterov momentum");
    s->add_option("--weight-decay", a->train.optim.weight_decay, "Weight decay")->capture_default_str();
    s->add_option("--label-smoothing", a->train.label_smoothing, "Label smoothing")->capture_default_str();
    s->add_option("--clip", a->zoo.clip, "Train with clipped ReLUs at this value (0 = plain ReLU)")->capture_default_str();
    s->add_option("--dropout", a->zoo.dropout, "Dropout before the classifier (< 0: the architecture's default)");
    s->add_flag("--no-augment", a->no_augment, "Disable random crop / flip");
    s->add_option("--seed", a->train.seed, "Seed of init, data order, augmentation, dropout")->capture_default_str();
    s->add_option("--out", a->train.out_dir, "Output directory (model, checkpoint, log)")->required();
    s->add_flag("--resume", a->train.resume, "Continue from OUT/checkpoint.safetensors");
    s->add_option("--checkpoint-steps", a->train.checkpoint_steps, "Also checkpoint every N steps (0 = per epoch)");
    s->add_option("--max-steps", a->train.max_steps, "Stop after N steps with a checkpoint (0 = no limit)");
    s->add_option("--stats-samples", a->stats_samples, "Training images for activation statistics")->capture_default_str();
    s->add_option("--limit-train", a->limit_train, "Use only the first N training images (0 = all)");
    s->add_option("--limit-test", a->limit_test, "Use only the first N test images (0 = all)");
    s->add_option("--json", a->json_path, "Write the final metrics as JSON to this file ('-' = stdout)");
    s->add_option("--threads", a->threads, "Intra-op threads (0 = all cores)")->capture_default_str();
    s->add_flag("--quiet", a->quiet, "No progress output");
    s->callback([a]() { run(*a); });
}

const command_registration reg(10, "train-ann", add_train_ann);

} // namespace

} // namespace snnkit_cli
