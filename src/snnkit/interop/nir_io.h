// snnkit/interop/nir_io.h: the Neuromorphic Intermediate Representation (NIR, HDF5; the layout nir 1.0
// writes: /version, /node/{type = "NIRGraph", nodes/<name>/..., edges [E, 2]}) for snnkit SNN graphs.
//
// Export maps  conv2d -> Conv2d,  linear -> Affine (Linear without bias),  avg_pool -> AvgPool2d,
// global_avg_pool -> AvgPool2d over the whole map,  flatten -> Flatten,  spike -> IF (alpha = 1) or LIF,
// add -> several edges into one node (NIR sums them). Spikes of value V_th: the amplitude folded into the
// weights of the convs / linears reading them (through avg pools and flattens only), else (an add reads them)
// a Scale by V_th after the neuron. Grouped convs are written dense (block-diagonal weight, groups 1): the
// readers tested (nir 1.0.8's type check, snnTorch 1.0) mishandle groups (nir_fold.h).
// BN is folded into the preceding conv / linear first and dropout dropped. Neurons are discrete-time
// (dt = 1): IF r = 1; LIF tau = 1 / (1 - alpha), r = tau, v_leak = 0. What NIR cannot express (soft
// reset, v(0), the >= threshold test, surrogate, statistics, node order, snnkit's node names of adds, the
// unfolded weights and groups) is stored under each node's "metadata" group (keys "snnkit_*"), so
// import_nir restores the graph exactly; other tools read the IF / LIF by their own conventions
// (docs/interop.md lists what each tested reader changes).
#pragma once

#include "snnkit/io/model_meta.h"
#include "snnkit/nn/graph.h"

#include <string>

namespace snnkit {

// Writes SNN graph g (with its model metadata, kept for import) to `path` atomically.
// Throws snnkit::error naming the layer for what NIR cannot carry (max-pool, ReLUs left in the graph).
void export_nir(const std::string & path, const graph & g, const model_meta & meta = {});

// Reads a NIR file (written by snnkit or another tool, supported node types only) into an SNN graph;
// *meta gets the model metadata stored by export_nir (empty for other files).
graph import_nir(const std::string & path, model_meta * meta = nullptr);

} // namespace snnkit
