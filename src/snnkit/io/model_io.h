// snnkit/io/model_io.h: a model on disk is a directory with two data-only files:
//   model.json         format tag, architecture, graph (nodes, ops, attributes, inputs), metadata
//   model.safetensors  every tensor as "<node>.<key>" (weights, BN statistics, thresholds, v0, stats)
// Both are written atomically; nothing is ever executed on load (no pickle).
#pragma once

#include "snnkit/io/model_meta.h"
#include "snnkit/nn/graph.h"

#include <string>

namespace snnkit {

// Saves g and its metadata (training config, metrics, ...: model_meta.h) into directory `dir`.
void save_model(const std::string & dir, const graph & g, const model_meta & meta = {});

// Loads a model directory; its metadata goes to *meta when given. Every problem (missing files, bad JSON,
// unknown op, missing or mis-shaped tensor, a metadata key of the wrong type) throws snnkit::error naming
// file and layer or key.
graph load_model(const std::string & dir, model_meta * meta = nullptr);

// The graph's structure as JSON text (no tensors), and back (tensors then attached by the caller).
std::string graph_to_json(const graph & g);
graph graph_from_json(const std::string & text, const std::string & where);

} // namespace snnkit
