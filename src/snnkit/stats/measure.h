// snnkit/stats/measure.h: running a saved model over a test set the way `snnkit eval` and `snnkit stats`
// do: the model's own input normalisation, batches of one T-step simulation each, an observer.
#pragma once

#include "snnkit/data/augment.h"
#include "snnkit/data/dataset.h"
#include "snnkit/data/model_data.h"
#include "snnkit/io/model_meta.h"
#include "snnkit/nn/snn_batch.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/stats/sops.h"

#include <string>

namespace snnkit {

struct snn_run_options {
    /// time steps of each simulation
    int64_t T = 32;
    /// images per simulation; 0 = auto (snn_run_batch: at most 200, fewer where memory would not suffice)
    int64_t batch = 0;
    /// with batch 0: the memory budget the auto batch is sized by (snn_tensor_bytes)
    int64_t memory_budget = snn_default_memory_budget;
    /// input encoding: "direct" or "poisson" (seeded by the batch's first index)
    std::string encoding = "direct";
    /// show a progress line on stderr
    bool progress = false;
    /// sees every node's output over time (statistics), batch by batch, or group of images by group
    /// (snn_options::observe_in_groups): it must sum over calls; may be empty
    node_observer observer;
    /// event-driven conv / linear layers where their input is sparse enough (snn_options::sparse)
    bool sparse = false;
    /// convolutions fed by spikes on AMX-BF16 where the CPU has it (snn_options::spike_bf16)
    bool spike_bf16 = false;
    /// bfloat16 weight parts on that path (snn_options::spike_bf16_parts: 3 float-equal, 2 / 1 approximate)
    int spike_bf16_parts = 3;
    /// on that path, the int8 scheme on wide layers (snn_options::spike_int8)
    bool spike_int8 = false;
    /// images simulated at once within a batch (snn_options::chunk: 0 automatic, -1 the whole batch)
    int64_t chunk = 0;
};

// The images per simulation batch for `requested` (opt.batch): requested when > 0; 0 = auto: at most
// `cap`, fewer where one activation tensor over T steps would exceed snn_tensor_bytes(memory_budget)
// (snn_batch_for_memory, measured on data's first image). Also sizes the training commands' test pass.
int64_t snn_run_batch(const graph & g, const dataset & data, const augment_options & pre, int64_t T,
                      int64_t requested, int64_t cap = 200, int64_t memory_budget = snn_default_memory_budget);

// Simulates g on every image of `data` (normalised by `pre`) in batches of snn_run_batch(.., opt.batch);
// returns the number of correct predictions after each step t = 1..T, [T] (int64).
at::Tensor run_snn_on_dataset(const graph & g, const dataset & data, const augment_options & pre,
                              const snn_run_options & opt);

// Sets the input side of so for run_snn_on_dataset's encoding: Poisson input is events, counted as the raw
// spikes the encoder draws before it normalises them with pre's mean / std.
void set_input_encoding(stats_options & so, const std::string & encoding, const augment_options & pre);

// The test split of dataset `name` (directory `dir`, empty = its default), cut to the first `limit`
// images when 0 < limit < its size.
dataset load_test_set(const std::string & name, const std::string & dir, int64_t limit);

// (check_model_classes, model_preprocess: snnkit/data/model_data.h.)
// (The number of steps a model was made for: model_time_steps in snnkit/io/model_meta.h.)

} // namespace snnkit
