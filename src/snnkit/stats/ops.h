// snnkit/stats/ops.h: what a network computes, counted: every node's shape, the ANN's multiply-accumulates
// (MACs), and for an SNN every synaptic layer with where its input comes from (spikes or analog values)
// and the exact number of synapses each input neuron reaches (its fan-out).
//
// Counting conventions (docs/stats.md has the reasoning):
//  - ANN MACs: conv2d Cout*Hout*Wout*(Cin/groups)*kh*kw, linear in*out. BatchNorm is folded into the
//    conv/linear before it (no MACs); pools, adds, activations are not counted (the usual convention;
//    VGG-16 on CIFAR: 313.2 M, He ResNet-20: 40.8 M).
//  - SNN synaptic operations (SOPs): a spike (one event, whatever its amplitude) costs one accumulate per
//    synapse it actually reaches. Average / global-average pools, flatten and dropout between a spike
//    node and the next conv/linear are folded into that layer (they have no neurons): the spike reaches
//    the folded layer's synapses, counted per path through the pool windows (for non-overlapping
//    pools, k = stride, every path is a distinct synapse). A spike reaching a residual add directly
//    (identity shortcut) costs one accumulate per path; the outputs of a conv/linear/BatchNorm that
//    feed an add land in the same membrane and cost nothing more. A pool chain that ends in a neuron or
//    the output without a conv/linear costs one accumulate per path.
//  - Analog inputs (direct encoding: the first layer sees the image) are MACs, not SOPs.
#pragma once

#include "snnkit/nn/graph.h"

#include <vector>

namespace snnkit {

// Output shape of every node for one sample (no batch dimension), from the attributes alone.
// Throws snnkit::error naming the layer when shapes do not fit.
std::vector<std::vector<int64_t>> node_shapes(const graph & g);

// The ANN's multiply-accumulates of node i for one sample (0 for every op but conv2d and linear).
int64_t node_macs(const graph & g, int i, const std::vector<std::vector<int64_t>> & shapes);

// The ANN's multiply-accumulates of the whole network for one sample.
int64_t ann_macs(const graph & g);

// Ops folded into the next synaptic layer: avg_pool, global_avg_pool, flatten, dropout.
bool is_transparent(op_kind op);

// One place where weighted inputs are accumulated into neurons.
struct synapse_layer {
    /// the accumulating node: conv2d, linear, add, or the last pool of a chain that ends without one
    int node = -1;
    /// which input of that node (adds have several)
    int slot = 0;
    /// the node the values come from (a spike node, the input, or an analog node such as BatchNorm)
    int source = -1;
    /// the transparent ops between source and node, in order
    std::vector<int> chain;
    /// the source emits events (spikes): the layer does SOPs; otherwise analog values: MACs
    bool events = false;
    /// analog source with the same value at every step (direct encoding, before the first spike node)
    bool static_input = false;
    /// the ANN's MACs of this node for one sample (conv2d, linear; 0 for adds and pools)
    int64_t ann_macs = 0;
    /// events only: synapses reached by one event of each source neuron, [source shape], double
    at::Tensor fanout;
};

// Every synaptic layer of g. input_events: the input node carries spikes (Poisson encoding or event
// data) rather than analog values. Event sources are spike nodes, the input when input_events, and
// max-pools over events (the max of spikes is a spike).
std::vector<synapse_layer> synapse_layers(const graph & g, bool input_events);

// Fan-out of every input position of one conv2d node for one sample: [Cin, H, W] (double), the number
// of (output, kernel tap) pairs it feeds, honouring kernel, stride, padding, dilation and groups.
at::Tensor conv_fanout(const node_attrs & a, const std::vector<int64_t> & in_shape);

} // namespace snnkit
