// snnkit/interop/nir_fold.h: weights in the forms NIR readers take (internal to snnkit/interop). (1) A spike
// amplitude V_th folded into the weights that read the spikes, so that a NIR file needs no Scale node there. Readers such as snnTorch know IF / LIF,
// Conv2d, Affine / Linear, AvgPool2d and Flatten but not Scale: spikes of value V_th reaching a conv / linear
// through average pools and flattens (all linear and channel-preserving) are the same as 0/1 spikes reaching
// that conv / linear with its input channel c's weights multiplied by V_th[c]. (2) A grouped convolution as a
// dense one (groups = 1) with a block-diagonal weight: the `nir` package 1.0.8 types a Conv2d's input as
// weight.shape[1] channels, ignoring groups (its type check refuses every grouped conv), and snnTorch 1.0 builds
// torch.nn.Conv2d(weight.shape[1], ..., groups), which fails for depthwise convs.
#pragma once

#include "snnkit/nn/graph.h"

#include <map>
#include <vector>

namespace snnkit {

// A per-layer (0-d) or per-channel ([C]) tensor broadcast to the neuron shape [C, ...] (float, contiguous).
at::Tensor per_neuron(const at::Tensor & t, const std::vector<int64_t> & shape);

struct amplitude_fold_plan {
    /// conv2d / linear node index -> the spike node whose amplitude its weights absorb
    std::map<int, int> into;
    /// spike nodes (spike_vth) whose amplitude is folded: exported without a Scale node
    std::vector<int> folded;
};

// The spike nodes with V_th-valued spikes whose every reader, through avg_pool / global_avg_pool / flatten
// nodes only, is a conv2d or linear (no add, neuron or graph output on the way), and the weight layers that
// absorb each one's amplitude. `shapes`: each node's per-sample output shape.
amplitude_fold_plan plan_amplitude_fold(const graph & g, const std::vector<std::vector<int64_t>> & shapes);

// Weight of conv2d / linear node `layer` times the amplitude V_th of spike node `spike` at each input channel
// (grouped convolutions: input channel g * in/groups + j for weight column j of an output in group g; linear
// after a flatten: V_th[c] for every feature of channel c).
at::Tensor amplitude_folded_weight(const graph & g, int layer, int spike, const std::vector<std::vector<int64_t>> & shapes);

// Grouped conv weight [out, in / groups, kh, kw] as the dense [out, in, kh, kw] one computing the same sums:
// output o of group g keeps its weights at input channels g * in / groups ..., zeros elsewhere.
at::Tensor dense_conv_weight(const at::Tensor & weight, int64_t groups);

} // namespace snnkit
