// snnkit/io/model_io.h: a model on disk is a directory with two data-only files:
//   model.json         format tag, architecture, graph (nodes, ops, attributes, inputs), metadata
//   model.safetensors  every tensor as "<node>.<key>" (weights, BN statistics, thresholds, v0, stats)
// Both are written atomically; nothing is ever executed on load (no pickle).
#pragma once

#include "snnkit/nn/graph.h"

#include <string>

namespace snnkit {

// Saves g (and `meta_json`, a JSON object as text: training config, metrics, ...) into directory `dir`.
void save_model(const std::string & dir, const graph & g, const std::string & meta_json = "{}");

// Loads a model directory; the metadata JSON text goes to *meta_json when given. Every problem (missing
// files, bad JSON, unknown op, missing or mis-shaped tensor) throws snnkit::error naming file and layer.
graph load_model(const std::string & dir, std::string * meta_json = nullptr);

// The graph's structure as JSON text (no tensors), and back (tensors then attached by the caller).
std::string graph_to_json(const graph & g);
graph graph_from_json(const std::string & text, const std::string & where);

} // namespace snnkit
