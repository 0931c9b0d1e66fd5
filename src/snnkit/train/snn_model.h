// snnkit/train/snn_model.h: a directly trainable SNN from a zoo architecture.
//
// Every ReLU of the ANN graph becomes a spiking neuron (0/1 spikes, the chosen dynamics and surrogate);
// conv, BatchNorm (over the merged [T*N] batch), pooling and linear layers stay as they are. The input is
// direct: the analog image enters the first layer at every step. The output is the mean over T of the
// last (analog) layer, trained with cross-entropy by BPTT through the fused neuron kernel.
#pragma once

#include "snnkit/nn/graph.h"
#include "snnkit/train/trainer.h"

#include <string>
#include <utility>
#include <vector>

namespace snnkit {

struct snn_model_options {
    /// number of time steps T
    int64_t T = 4;
    /// firing threshold V_th of every spiking layer
    double v_th = 1.0;
    /// neuron dynamics of every spiking layer (alpha, reset, detach_reset, surrogate); spikes are 0/1
    neuron_options neuron;
    /// PLIF: every spiking layer gets its own learnable leak factor, the 0-d parameter "alpha" (starting at
    /// neuron.alpha), trained with the weights through the fused kernel's dL/dalpha
    bool learn_alpha = false;
};

// Rewrites an ANN graph (relu / clip_relu nodes) into a trainable SNN graph (spike nodes with a scalar
// "v_th" buffer). Weights are shared with nothing: the result is a deep copy.
graph snn_from_ann(const graph & ann, const snn_model_options & opt);

// The forward_fn of an SNN graph for train_loop / evaluate_accuracy: logits = mean over T of the output
// layer's per-step values. g is captured by reference and must outlive the function. dropout_shared: see
// snn_options::dropout_shared.
forward_fn snn_forward_fn(const graph & g, int64_t T, bool dropout_shared = false);

// Copies each spike node's learned "alpha" parameter (learn_alpha) into its neuron options, so that what reads
// the options (the saved model's attributes, NIR export) sees the learned value; returns layer name -> alpha.
std::vector<std::pair<std::string, double>> sync_learned_alpha(graph & g);

// Sets the surrogate shape parameter (width, sharpness, Dspike's b) of every spike node.
void set_surrogate_param(graph & g, double param);

// Hybrid training: copies the weights of a trained model `src` (an ANN from train-ann, or another SNN) into
// the SNN graph `snn` of the same architecture. Every parameter of `snn` must exist in `src` under the same
// node and name with the same shape (except a spike node's learnable "alpha", which keeps its start value when
// `src` has none); buffers present in both (BatchNorm running statistics) are copied too, while the spike
// nodes keep their threshold. Throws snnkit::error naming `where` and the first layer
// that does not match.
void snn_init_from(graph & snn, const graph & src, const std::string & where);

// The index of the first conv2d / linear node (the "first layer" whose weights Dspike's FDG perturbs);
// throws snnkit::error when there is none.
int first_weight_layer(const graph & g);

} // namespace snnkit
