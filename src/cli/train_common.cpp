// src/cli/train_common.cpp
#include "train_common.h"

#include "commands.h"

#include "snnkit/core/error.h"

namespace snnkit_cli {

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

snnkit::train_job_options job_options(const train_cli & a) {
    set_threads(a.threads);
    snnkit::train_job_options o = a;
    if (a.no_augment) {
        o.augment = "none";
    }
    o.train.progress = !a.quiet;
    if (a.cli) { // flags that would change nothing are refused, not ignored
        refuse_unused_flags(*a.cli, {"--lr-min"}, o.train.schedule == "cosine", "has an effect only with --schedule cosine");
        refuse_unused_flags(*a.cli, {"--momentum", "--nesterov"}, o.train.optim.kind == "sgd",
                            "has an effect only with --optimizer sgd");
        refuse_unused_flags(*a.cli, {"--crop-pad"},
                            snnkit::dataset_augment(o.data.name, o.augment, o.crop_pad).pad_crop > 0 || o.crop_pad == 0,
                            "has an effect only with a random crop (--augment crop or crop+flip; the default for "
                            "CIFAR and ImageFolder)");
    }
    return o;
}

void finish_training(const train_cli & a, const snnkit::train_job_result & r, const char * command) {
    if (r.train.interrupted) {
        snnkit::fail(command, "training stopped before the end; resume with --resume");
    }
    write_json_file(a.json_path, nlohmann::json::parse(r.result_json),
                    {{a.data.name, a.data.dir, "train", r.train_images}, {a.data.name, a.data.dir, "test", r.test_images}});
}

} // namespace snnkit_cli
