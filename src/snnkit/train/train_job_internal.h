// snnkit/train/train_job_internal.h: what train_ann and train_snn (train_job.h) share; not installed.
#pragma once

#include "snnkit/train/train_job.h"

#include <nlohmann/json.hpp>

#include <string>

namespace snnkit {

struct job_data {
    dataset train, test;
};

// Checks o and fills in what follows from it (augmentation, preprocessing, the zoo's input shape, classes and
// seed), loads and cuts the data, and (with progress) prints a header line naming `command`.
job_data prepare_job(train_job_options & o, const char * command);

// eval_batch_size 0 (auto): the largest test batch, at most `cap`, whose largest activation over T steps stays
// within snn_tensor_bytes(snn_default_memory_budget) (snn_run_batch, as eval and stats size theirs). An explicit
// size is kept.
void resolve_eval_batch(train_job_options & o, const graph & g, const job_data & d, int64_t T, int64_t cap);

// The training configuration recorded in a model's metadata (epochs, batch, optimizer, ..., the model's dropout).
train_meta train_config(const train_job_options & o, const graph & g);

// What every training result records about its inputs: "train" (train_config), "train_samples", "test_samples".
nlohmann::json train_inputs_json(const train_job_options & o, const job_data & d, const graph & g);

// One section of the metadata as JSON (null when absent): "train", "neuron", ...
nlohmann::json meta_section(const model_meta & m, const char * key);

// What the model-building options (arch, dropout, train-ann's clip) made of the model, as one line:
// "arch cnn, dropout 0.3" (the dropout the graph has, so the architecture's default equals it written out),
// plus ", clip 1.0" with clipped ReLUs. The checkpoint keeps it (in the hook state); a resume must give the same.
std::string model_flags_text(const train_job_options & o, const graph & g);

// Fails naming the checkpoint when a setting it recorded as text (`saved`; "" = not recorded, as in older
// checkpoints) differs from this run's: "checkpoint was made with WHAT (saved), not (now); ADVICE".
void check_saved_setting(const std::string & ckpt, const std::string & what, const std::string & saved,
                         const std::string & now, const std::string & advice);

// Peak resident memory of this process so far, in MiB.
double peak_rss_mib();

} // namespace snnkit
