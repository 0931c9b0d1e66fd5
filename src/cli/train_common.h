// src/cli/train_common.h: what `train-ann` and `train-snn` share: dataset, architecture and optimizer
// flags, data loading, and the per-epoch history as JSON.
#pragma once

#include "commands.h"

#include "snnkit/data/dataset_by_name.h"
#include "snnkit/nn/zoo.h"
#include "snnkit/train/trainer.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string>

namespace snnkit_cli {

struct train_cli {
    /// dataset name and directory
    snnkit::dataset_spec data;
    /// architecture, seed, dropout, clip
    snnkit::zoo_options zoo;
    /// epochs, batch, optimizer, schedule, output directory, resume, checkpoints
    snnkit::trainer_options train;
    /// --json: where the final metrics go ("-" = stdout)
    std::string json_path;
    /// intra-op threads (0 = all cores)
    int threads = 0;
    /// use only the first N training / test images (0 = all)
    int64_t limit_train = 0, limit_test = 0;
    /// training augmentation: default | none | crop | flip | crop+flip (see dataset_augment)
    std::string augment = "default";
    /// zero-padding of the random crop
    int crop_pad = 4;
    /// --no-augment: same as --augment none
    bool no_augment = false;
    /// no progress output
    bool quiet = false;
    /// the subcommand these flags were parsed by (set by add_train_flags; for refuse_unused_flags)
    const CLI::App * cli = nullptr;
};

// Adds the shared flags to a training subcommand (defaults are taken from `a` as it is).
void add_train_flags(CLI::App * s, train_cli & a);

struct train_data {
    snnkit::dataset train, test;
};

// Loads the data, fills in input shape / classes / preprocessing / progress, and prints a header line.
train_data prepare_training(train_cli & a, const char * command);

// --eval-batch-size 0 (auto): the largest test batch, at most `cap`, whose largest activation over T steps stays
// within snn_tensor_bytes(snn_default_memory_budget) (snn_run_batch, as eval and stats size theirs). An explicit size is kept.
void resolve_eval_batch(train_cli & a, const snnkit::graph & g, const train_data & d, int64_t T, int64_t cap);

// The dropout p of the model (0 without dropout): what --dropout, or the architecture's default, made of it.
double model_dropout(const snnkit::graph & g);

// The training configuration recorded in a model's metadata ("train": epochs, batch, optimizer, ..., and the
// model's dropout p).
snnkit::train_meta train_config(const train_cli & a, const snnkit::graph & g);

// What every training result JSON records about its inputs: "train" (train_config), "train_samples",
// "test_samples".
nlohmann::json train_inputs_json(const train_cli & a, const train_data & d, const snnkit::graph & g);

// The training and test splits a run used, for the result's provenance.
std::vector<data_used> train_data_used(const train_cli & a, const train_data & d);

// What the model-building flags (--arch, --dropout, train-ann's --clip) made of the model, as one line:
// "arch cnn, dropout 0.3" (the dropout the graph has, so the architecture's default equals it written out),
// plus ", clip 1.0" with clipped ReLUs. The checkpoint keeps it (in the hook state); a resume must give the same.
std::string model_flags_text(const train_cli & a, const snnkit::graph & g);

// Fails, naming the checkpoint, when `saved` (the text a checkpoint holds; empty in older checkpoints, which are
// then not checked) differs from `now`.
void check_model_flags(const std::string & ckpt, const std::string & saved, const std::string & now);
// Fails naming the checkpoint when a setting it recorded as text (`saved`; "" = not recorded) differs from this
// run's: "checkpoint was made with WHAT (saved), not (now); ADVICE".
void check_saved_setting(const std::string & ckpt, const std::string & what, const std::string & saved,
                         const std::string & now, const std::string & advice);

// Peak resident memory of this process so far, in MiB.
double peak_rss_mib();

} // namespace snnkit_cli
