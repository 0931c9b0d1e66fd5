// src/cli/train_common.cpp
#include "train_common.h"

#include "commands.h"

#include "snnkit/core/error.h"
#include "snnkit/stats/measure.h"

#include <ATen/Parallel.h>

#include <sys/resource.h>

#include <cstdio>

namespace snnkit_cli {

namespace {

snnkit::dataset head(const snnkit::dataset & d, int64_t n) {
    if (n <= 0 || n >= d.images.size(0)) {
        return d;
    }
    snnkit::dataset r = d;
    r.images = d.images.slice(0, 0, n).contiguous();
    r.labels = d.labels.slice(0, 0, n).contiguous();
    return r;
}

} // namespace

void add_train_flags(CLI::App * s, train_cli & a) {
    a.cli = s;
    s->add_option("--dataset", a.data.name, "fmnist | mnist | cifar10 | cifar100 | imagefolder")->capture_default_str();
    s->add_option("--data", a.data.dir, "Dataset directory (fmnist default: /usr/share/datasets/fashion-mnist)");
    s->add_option("--arch", a.zoo.arch, "cnn | cnn-plif | vgg16 | resnet20 | resnet20-he | resnet18 | resnet34")
        ->capture_default_str();
    s->add_option("--epochs", a.train.epochs, "Training epochs")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--batch-size", a.train.batch_size, "Batch size")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--optimizer", a.train.optim.kind, "sgd | adam | adamw")->capture_default_str();
    s->add_option("--lr", a.train.optim.lr, "Peak learning rate")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--lr-min", a.train.lr_min, "Final learning rate of the cosine schedule")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_option("--schedule", a.train.schedule, "cosine | constant")->capture_default_str();
    s->add_option("--momentum", a.train.optim.momentum, "SGD momentum")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--nesterov", a.train.optim.nesterov, "Nesterov momentum");
    s->add_option("--weight-decay", a.train.optim.weight_decay, "Weight decay")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_option("--label-smoothing", a.train.label_smoothing, "Label smoothing in [0, 1]")->check(CLI::Range(0.0, 1.0))->capture_default_str();
    s->add_option("--dropout", a.zoo.dropout, "Dropout before the classifier (< 0: the architecture's default)");
    s->add_option("--augment", a.augment,
                  "default | none | crop | flip | crop+flip (default = crop+flip for CIFAR / imagefolder, "
                  "none for (F)MNIST)")
        ->capture_default_str();
    s->add_option("--crop-pad", a.crop_pad, "Zero-padding of the random crop, pixels")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--no-augment", a.no_augment, "Same as --augment none");
    s->add_option("--seed", a.train.seed, "Seed of init, data order, augmentation, dropout")->capture_default_str();
    s->add_option("--out", a.train.out_dir, "Output directory (model, checkpoint, log)")->required();
    s->add_flag("--resume", a.train.resume, "Continue from OUT/checkpoint.safetensors");
    s->add_option("--checkpoint-steps", a.train.checkpoint_steps, "Also checkpoint every N steps (0 = per epoch)")->check(snnkit_cli::non_negative());
    s->add_option("--max-steps", a.train.max_steps, "Stop after N steps with a checkpoint (0 = no limit)")->check(snnkit_cli::non_negative());
    s->add_option("--limit-train", a.limit_train, "Use only the first N training images (0 = all)")->check(snnkit_cli::non_negative());
    s->add_option("--limit-test", a.limit_test, "Use only the first N test images (0 = all)")->check(snnkit_cli::non_negative());
    s->add_option("--eval-batch-size", a.train.eval_batch_size,
                  "Images per batch of the per-epoch test pass (0 = auto: the most, up to 1000 for train-ann and 200 for "
                  "train-snn, that keep one activation tensor over T steps within 1 GiB)")
        ->check(snnkit_cli::non_negative())
        ->capture_default_str();
    s->add_option("--json", a.json_path, "Write the final metrics as JSON to this file ('-' = stdout)");
    s->add_option("--threads", a.threads, "Intra-op threads (0 = all cores)")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--quiet", a.quiet, "No progress output");
    s->add_flag("--no-grad-check", [&a](int64_t) { a.train.check_grads = false; },
                "Skip the per-step NaN/Inf check of the gradients (the loss is always checked)");
}

train_data prepare_training(train_cli & a, const char * command) {
    set_threads(a.threads);
    if (a.train.out_dir.empty()) {
        snnkit::fail("--out", "an output directory is required");
    }
    a.train.eval_preprocess = snnkit::dataset_preprocess(a.data.name);
    a.train.augment = snnkit::dataset_augment(a.data.name, a.no_augment ? "none" : a.augment, a.crop_pad);
    if (a.cli) { // flags that would change nothing are refused, not ignored
        refuse_unused_flags(*a.cli, {"--lr-min"}, a.train.schedule == "cosine", "has an effect only with --schedule cosine");
        refuse_unused_flags(*a.cli, {"--momentum", "--nesterov"}, a.train.optim.kind == "sgd",
                            "has an effect only with --optimizer sgd");
        refuse_unused_flags(*a.cli, {"--crop-pad"}, a.train.augment.pad_crop > 0 || a.crop_pad == 0,
                            "has an effect only with a random crop (--augment crop or crop+flip; the default for "
                            "CIFAR and ImageFolder)");
    }
    train_data d;
    d.train = head(snnkit::load_dataset(a.data, snnkit::split::train), a.limit_train);
    d.test = head(snnkit::load_dataset(a.data, snnkit::split::test), a.limit_test);
    snnkit::check_same_classes(d.train, d.test, a.data.dir.empty() ? a.data.name : a.data.dir);
    a.zoo.input_shape = d.train.images.sizes().slice(1).vec();
    a.zoo.num_classes = d.train.num_classes;
    a.zoo.seed = a.train.seed; // --seed also draws the initial weights
    a.train.progress = !a.quiet;
    if (!a.quiet) {
        std::fprintf(stderr, "%s: %s on %s (%lld train / %lld test images, %lld classes), augmentation %s, %d thread%s\n",
                     command,
                     a.zoo.arch.c_str(), a.data.name.c_str(), static_cast<long long>(d.train.images.size(0)),
                     static_cast<long long>(d.test.images.size(0)), static_cast<long long>(d.train.num_classes),
                     snnkit::augment_name(a.train.augment).c_str(), at::get_num_threads(),
                     at::get_num_threads() == 1 ? "" : "s");
    }
    return d;
}

void resolve_eval_batch(train_cli & a, const snnkit::graph & g, const train_data & d, int64_t T, int64_t cap) {
    a.train.eval_batch_size = snnkit::snn_run_batch(g, d.test, a.train.eval_preprocess, T, a.train.eval_batch_size, cap);
}

double model_dropout(const snnkit::graph & g) {
    double p = 0.0; // the zoo gives every dropout of a net the same p
    for (const auto & n : g.nodes) {
        if (n.op == snnkit::op_kind::dropout) {
            p = n.attrs.p;
        }
    }
    return p;
}

snnkit::train_meta train_config(const train_cli & a, const snnkit::graph & g) {
    snnkit::train_meta t;
    t.epochs = a.train.epochs;
    t.batch_size = a.train.batch_size;
    t.optimizer = a.train.optim.kind;
    t.lr = a.train.optim.lr;
    t.lr_min = a.train.lr_min;
    t.weight_decay = a.train.optim.weight_decay;
    t.momentum = a.train.optim.momentum;
    t.nesterov = a.train.optim.nesterov;
    t.schedule = a.train.schedule;
    t.label_smoothing = a.train.label_smoothing;
    t.dropout = model_dropout(g);
    t.seed = a.train.seed;
    t.augment = snnkit::augment_name(a.train.augment);
    t.threads = at::get_num_threads();
    t.eval_batch_size = a.train.eval_batch_size;
    return t;
}

nlohmann::json train_inputs_json(const train_cli & a, const train_data & d, const snnkit::graph & g) {
    snnkit::model_meta m;
    m.train = train_config(a, g);
    return {{"train", meta_json(m)["train"]},
            {"train_samples", d.train.labels.size(0)},
            {"test_samples", d.test.labels.size(0)}};
}

std::string model_flags_text(const train_cli & a, const snnkit::graph & g) {
    std::string t = "arch " + a.zoo.arch + ", dropout " + nlohmann::json(model_dropout(g)).dump();
    if (a.zoo.clip > 0) {
        t += ", clip " + nlohmann::json(a.zoo.clip).dump();
    }
    return t;
}

void check_saved_setting(const std::string & ckpt, const std::string & what, const std::string & saved,
                         const std::string & now, const std::string & advice) {
    if (!saved.empty() && saved != now) {
        snnkit::fail(ckpt, "checkpoint was made with " + what + " (" + saved + "), not (" + now + "); " + advice);
    }
}

void check_model_flags(const std::string & ckpt, const std::string & saved, const std::string & now) {
    check_saved_setting(ckpt, "model settings", saved, now, "resume with the same model flags, or start a new --out");
}

double peak_rss_mib() {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0; // ru_maxrss is in KiB on Linux
}

std::vector<data_used> train_data_used(const train_cli & a, const train_data & d) {
    return {{a.data.name, a.data.dir, "train", d.train.images.size(0)}, {a.data.name, a.data.dir, "test", d.test.images.size(0)}};
}

} // namespace snnkit_cli
