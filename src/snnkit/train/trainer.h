// snnkit/train/trainer.h: the training loop shared by ANN and SNN training: seeded data order and
// augmentation, optimizer + cosine schedule, progress with ETA, per-epoch JSON-lines log, atomic
// checkpoints with optimizer and RNG position, bit-exact --resume, and SIGINT/SIGTERM checkpointing.
#pragma once

#include "snnkit/data/augment.h"
#include "snnkit/data/dataset.h"
#include "snnkit/io/model_meta.h"
#include "snnkit/nn/graph.h"
#include "snnkit/optim/optimizer.h"

#include <functional>
#include <string>
#include <vector>

namespace snnkit {

// Maps a float batch [B, ...] to logits [B, classes]; `train` selects training behaviour, `dropout` is the
// random source of its dropout masks (the trainer's own generator; undefined: ATen's global one).
using forward_fn = std::function<at::Tensor(const at::Tensor & x, bool train, const at::Generator & dropout)>;

struct trainer_options {
    /// number of epochs
    int epochs = 10;
    /// training batch size
    int64_t batch_size = 128;
    /// evaluation batch size
    int64_t eval_batch_size = 1000;
    /// optimizer and peak learning rate
    optimizer_options optim;
    /// "cosine" (per step, down to lr_min) or "constant"
    std::string schedule = "cosine";
    /// final learning rate of the cosine schedule
    double lr_min = 0.0;
    /// label smoothing of the cross-entropy loss
    double label_smoothing = 0.0;
    /// seed of data order, augmentation and dropout
    uint64_t seed = 0;
    /// train-time preprocessing (normalisation + augmentation)
    augment_options augment;
    /// evaluation preprocessing (normalisation only)
    augment_options eval_preprocess;
    /// output directory: checkpoint.safetensors, train_log.jsonl
    std::string out_dir;
    /// continue from out_dir/checkpoint.safetensors if present; without it an existing checkpoint is refused
    bool resume = false;
    /// also checkpoint every this many steps (0 = at the end of each epoch only)
    int64_t checkpoint_steps = 0;
    /// stop (with a checkpoint) after this many steps in this run (0 = no limit); for tests of resume
    int64_t max_steps = 0;
    /// draw the progress line
    bool progress = true;
    /// the SNN's time steps when the graph is an SNN (0 = an ANN); only used to name the layer where a
    /// NaN / Inf first appears (when the loss stops being finite or a spiking layer refuses its input)
    int64_t snn_T = 0;
    /// check every parameter's gradient for NaN / Inf after each backward pass (one reduction per tensor)
    bool check_grads = true;
};

// epoch_metrics, history_to_json, history_from_json: snnkit/io/model_meta.h (a model keeps its history).

struct train_result {
    std::vector<epoch_metrics> history;
    double test_accuracy = 0; ///< percent, after the last epoch
    double train_seconds = 0; ///< wall time of the training steps and the checkpoints written between them (all
                              ///< runs of a resumed training together; not the per-epoch test evaluation, the
                              ///< on_epoch hook or the end-of-epoch checkpoint)
    int epochs = 0;           ///< epochs completed
    bool interrupted = false; ///< stopped early (signal or max_steps) after writing a checkpoint
};

// The forward_fn of an ANN graph: ann_forward(g, x) with training behaviour when asked (g is captured
// by reference and must outlive the function).
forward_fn ann_forward_fn(const graph & g);

// What a caller may hook into the loop (SNN training: Dspike's temperature adaptation).
struct train_hooks {
    /// called at the start of each epoch with one training batch (augmented as in training); returns a
    /// JSON object as text whose keys are added to that epoch's log entry ("" = nothing)
    std::function<std::string(int epoch, const at::Tensor & x, const at::Tensor & y)> on_epoch;
    /// the caller's own state as text, stored in every checkpoint (e.g. the current Dspike b)
    std::function<std::string()> save_state;
    /// given that text back on --resume, before training continues ("" for a checkpoint that holds none,
    /// e.g. one written before the hook existed: the caller decides what that means)
    std::function<void(const std::string & state)> load_state;
};

// Trains g (its params get requires_grad) with `forward` on `train`, evaluating on `test` each epoch.
train_result train_loop(graph & g, const forward_fn & forward, const dataset & train, const dataset & test,
                        const trainer_options & opt, const train_hooks & hooks = {});

// Top-1 accuracy in percent of forward(x, false) on a dataset.
double evaluate_accuracy(const forward_fn & forward, const dataset & data, const augment_options & pre,
                         int64_t batch_size, bool progress = false);

} // namespace snnkit
