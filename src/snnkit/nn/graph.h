// snnkit/nn/graph.h: the network representation shared by ANN training, conversion, calibration and
// SNN simulation.
//
// A network is a small graph: nodes in topological order, each with an op kind, its attributes, its
// tensors (learnable params and non-learnable buffers) and the indices of its inputs. Node 0 is always
// the input. The last node is the output. One executor runs it as an ANN (snnkit/nn/forward.h) or as
// an SNN over [T, N, ...] (snnkit/nn/snn_forward.h); conversion is a graph rewrite (ReLU -> spike).
#pragma once

#include "snnkit/neuron/neuron.h"

#include <ATen/ATen.h>

#include <array>
#include <map>
#include <string>
#include <vector>

namespace snnkit {

enum class op_kind {
    input,           // the network input (node 0)
    conv2d,          // params: weight [O, I/g, kh, kw], bias [O] (optional)
    linear,          // params: weight [O, I], bias [O] (optional)
    avg_pool,        // kernel, stride, padding
    max_pool,        // kernel, stride, padding
    global_avg_pool, // mean over H, W -> [N, C, 1, 1]
    flatten,         // [N, ...] -> [N, prod(...)]
    relu,            // max(x, 0)
    clip_relu,       // min(max(x, 0), clip)
    batch_norm,      // params: weight, bias [C]; buffers: running_mean, running_var [C]
    dropout,         // p (identity when not training)
    add,             // sum of its inputs (residual add)
    spike,           // spiking neuron (replaces a ReLU after conversion); buffers: v_th, v0 (optional)
    qcfs,            // lambda * clip(floor(x * L / lambda + 1/2) / L, 0, 1); params: lambda [] (Bu et al., ICLR 2022)
};

// True for the ANN activations that conversion turns into spiking neurons (relu, clip_relu, qcfs).
bool is_ann_activation(op_kind op);

std::string op_to_string(op_kind op);
op_kind op_from_string(const std::string & name); // throws snnkit::error for unknown names

struct node_attrs {
    /// conv2d: input channels; linear: input features; batch_norm: channels
    int64_t in = 0;
    /// conv2d: output channels; linear: output features
    int64_t out = 0;
    /// conv2d / pools: kernel size (h, w)
    std::array<int64_t, 2> kernel{1, 1};
    /// conv2d / pools: stride (h, w)
    std::array<int64_t, 2> stride{1, 1};
    /// conv2d / pools: zero padding (h, w)
    std::array<int64_t, 2> padding{0, 0};
    /// conv2d: dilation (h, w)
    std::array<int64_t, 2> dilation{1, 1};
    /// conv2d: groups
    int64_t groups = 1;
    /// batch_norm: epsilon
    double eps = 1e-5;
    /// batch_norm: running-statistics momentum
    double momentum = 0.1;
    /// dropout: drop probability
    double p = 0.0;
    /// clip_relu: the clip value (Deng & Gu train the source ANN with such a clip)
    double clip = 0.0;
    /// qcfs: quantisation levels L (the activation takes the values lambda * k / L, k = 0..L)
    int64_t levels = 0;
    /// avg_pool: include zero padding in the average (PyTorch's count_include_pad)
    bool count_include_pad = true;
    /// max_pool in an SNN: gate each window by the accumulated input (Rueckauer et al. 2017, see
    /// snnkit/nn/spike_max_pool.h) instead of a max per step; set by conversion (an ANN ignores it)
    bool gated = false;
    /// spike: neuron dynamics (alpha, reset, spike amplitude, surrogate)
    neuron_options neuron;
};

// Output extent along one axis of a conv2d / pool with kernel k, stride s, padding p and dilation d, as PyTorch
// defines it (floor mode).
inline int64_t conv_out_extent(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d = 1) {
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

struct node {
    /// unique name, e.g. "layer1.0.conv1"
    std::string name;
    /// what the node computes
    op_kind op = op_kind::input;
    /// indices of earlier nodes whose outputs feed this one (empty for the input)
    std::vector<int> inputs;
    /// op attributes
    node_attrs attrs;
    /// learnable tensors ("weight", "bias")
    std::map<std::string, at::Tensor> params;
    /// non-learnable tensors ("running_mean", "running_var", "v_th", "v0", ...)
    std::map<std::string, at::Tensor> buffers;

    // The tensor called `key` among params or buffers, or an undefined tensor.
    at::Tensor tensor(const std::string & key) const;
};

struct graph {
    /// nodes in topological order; nodes[0] is the input, nodes.back() the output
    std::vector<node> nodes;
    /// shape of one input sample, e.g. {1, 28, 28}
    std::vector<int64_t> input_shape;
    /// number of output classes
    int64_t num_classes = 0;
    /// architecture name it was built as ("cnn", "vgg16", ..., "custom")
    std::string arch = "custom";

    // Index of the node called `name`; throws snnkit::error if absent.
    int find(const std::string & name) const;
    // Every learnable tensor, in node order ("node.param" names).
    std::vector<std::pair<std::string, at::Tensor>> named_params() const;
    // Every tensor (params and buffers), in node order ("node.key" names).
    std::vector<std::pair<std::string, at::Tensor>> named_tensors() const;
    // Number of nodes that consume node i's output.
    std::vector<int> consumer_counts() const;
    // Checks indices, shapes of params against attributes, op-specific invariants; throws snnkit::error.
    void validate() const;
    // Deep copy (tensors cloned).
    graph clone() const;
    // Removes single-input node i: its consumers read its input instead; later indices shift down.
    void remove_node(int i);
};

// Builder helpers: each appends a node fed by `from` (or by the last node when from < 0) and returns its
// index. Weights are initialised with the seeded generator of the builder.
class graph_builder {
public:
    graph_builder(std::vector<int64_t> input_shape, int64_t num_classes, uint64_t seed);

    int conv2d(const std::string & name, int64_t in, int64_t out, int64_t k, int64_t stride = 1,
               int64_t padding = 0, bool bias = true, int64_t groups = 1, int from = -1);
    int linear(const std::string & name, int64_t in, int64_t out, bool bias = true, int from = -1);
    int batch_norm(const std::string & name, int64_t channels, int from = -1);
    int relu(const std::string & name, int from = -1);
    int clip_relu(const std::string & name, double clip, int from = -1);
    // QCFS activation with L = levels and the trainable threshold lambda (0-d param) set to `lambda`.
    int qcfs(const std::string & name, int64_t levels, double lambda, int from = -1);
    int avg_pool(const std::string & name, int64_t k, int64_t stride, int64_t padding = 0, int from = -1);
    int max_pool(const std::string & name, int64_t k, int64_t stride, int64_t padding = 0, int from = -1);
    int global_avg_pool(const std::string & name, int from = -1);
    int flatten(const std::string & name, int from = -1);
    int dropout(const std::string & name, double p, int from = -1);
    int add(const std::string & name, std::vector<int> from);

    int last() const { return static_cast<int>(g_.nodes.size()) - 1; }
    graph finish(const std::string & arch); // validates and returns the graph

private:
    int push(node n, int from);
    int pool(op_kind op, const std::string & name, int64_t k, int64_t stride, int64_t padding, int from);
    graph g_;
    at::Generator gen_;
};

} // namespace snnkit
