// snnkit/nn/act_stats.h: per-layer activation statistics of a trained ANN, which threshold balancing
// and calibration read. They are stored as buffers on each relu / clip_relu / qcfs node, so they travel with
// the model file and through conversion:
//   act_max [ ]       maximum activation
//   act_p99_9 [ ]     99.9th percentile of all activation values (zeros included)
//   act_p99_99 [ ]    99.99th percentile
//   act_channel_max [C]  per-channel maximum (channel = dim 1)
// Percentiles are exact over at most `max_values` values per layer: beyond that, a seeded uniform random
// sample of each batch's values, drawn with replacement (the same fraction from every batch), is kept.
#pragma once

#include "snnkit/nn/graph.h"

namespace snnkit {

struct act_stats_options {
    /// batch size of the recording passes
    int64_t batch_size = 256;
    /// most values kept per layer for the percentiles
    int64_t max_values = int64_t(1) << 22;
    /// seed of the subsampling
    uint64_t seed = 0;
};

// Runs g as an ANN (inference mode) on x [N, ...] (already preprocessed) and stores the statistics.
// Returns the number of layers recorded.
int record_activation_stats(graph & g, const at::Tensor & x, const act_stats_options & opt = {});

} // namespace snnkit
