// snnkit/interop/onnx_model.h: an ONNX file made ready for conversion: imported (onnx_import.h), its
// activation statistics recorded on unaugmented training images (snnkit/nn/act_stats.h), and the model
// metadata train-ann writes ({"kind": "ann", "source": "onnx", "dataset", "preprocess": {mean, std}}),
// so `convert` and `eval` treat it as any trained ANN.
#pragma once

#include "snnkit/data/dataset_by_name.h"
#include "snnkit/io/model_meta.h"
#include "snnkit/nn/graph.h"

#include <string>
#include <vector>

namespace snnkit {

struct onnx_model_options {
    /// dataset whose training images the statistics are recorded on (and the model is evaluated on)
    dataset_spec data;
    /// per-channel normalisation the ONNX model expects (empty = the dataset's standard one)
    std::vector<float> mean;
    /// per-channel standard deviation (empty = the dataset's standard one)
    std::vector<float> std;
    /// unaugmented training images for the statistics (a seeded random subset)
    int64_t stats_samples = 1024;
    /// seed of the subset
    uint64_t seed = 0;
};

struct onnx_model {
    /// the imported ANN, with activation statistics
    graph g;
    /// model metadata for save_model
    model_meta meta;
    /// number of layers whose statistics were recorded
    int stats_layers = 0;
    /// images they were recorded on
    int64_t stats_images = 0;
};

// Imports `path`, checks it against the dataset (image shape, class count), records the statistics.
// Throws snnkit::error naming the file / node / dataset at fault.
onnx_model load_onnx_model(const std::string & path, const onnx_model_options & opt);

} // namespace snnkit
