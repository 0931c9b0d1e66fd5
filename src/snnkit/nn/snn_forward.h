// snnkit/nn/snn_forward.h: the SNN executor. Runs a graph whose ReLUs were replaced by spike nodes over
// T time steps, time-major [T, N, ...]. Stateless layers see time folded into the batch ([T*N, ...]);
// spike nodes run the fused neuron kernel over all T at once; the last layer stays analog.
//
// Direct input encoding feeds the same analog image at every step, so every node before the first spike
// node is computed once on [N, ...] (not T times) and broadcast over time where it meets a spike node.
#pragma once

#include "snnkit/nn/forward.h"
#include "snnkit/nn/spike_max_pool.h"

#include <map>
#include <string>
#include <vector>

namespace snnkit {

class spike_conv_bf16_cache; // spike_conv_bf16.h
class spike_gather_cache;    // spike_gather.h

// A node's value during a simulation: static ([N, ...], the same at every step) or temporal ([T*N, ...],
// time folded into the batch). Partial runs hand these over (layer-by-layer calibration).
struct snn_node_value {
    at::Tensor t;
    bool temporal = false;
};

// A per-channel input normalisation as tensors that broadcast over x [N, C, ...] (and over [T, N, C, ...]);
// both undefined when mean is empty. Fails when the sizes fit neither one value nor x's C channels.
struct input_norm {
    at::Tensor mean;
    at::Tensor std;
};
input_norm input_normalisation(const std::vector<float> & mean, const std::vector<float> & std, const at::Tensor & x);

struct snn_options {
    /// number of time steps T
    int64_t T = 8;
    /// training mode (BatchNorm over the merged T*N batch, dropout active; surrogate gradients flow)
    bool train = false;
    /// training: dropout on a value that varies over time keeps one mask per neuron for all T steps (as
    /// SpikingJelly and PLIF do) instead of drawing a new mask at every step. A static value (before the
    /// first spike node) is computed once, so it always has one mask
    bool dropout_shared = false;
    /// training: the random source of dropout masks (undefined: ATen's global generator)
    at::Generator dropout_generator;
    /// "direct" (the analog input at every step) or "poisson" (Bernoulli spikes with p = clamp(raw, 0, 1),
    /// raw being the pixel intensity before the normalisation below)
    std::string encoding = "direct";
    /// poisson: the per-channel normalisation x went through, x = (raw - mean) / std (empty: x is raw).
    /// The spikes are normalised the same way, so that their mean over time is x, as the first layer was
    /// trained on (one value: all channels)
    std::vector<float> input_mean;
    /// poisson: see input_mean
    std::vector<float> input_std;
    /// seed of the Poisson encoder
    uint64_t seed = 0;
    /// sees every node's output as [T, N, ...] (a static value as a broadcast view over T)
    node_observer observer;
    /// stop after this node (-1 = run the whole graph); out is then this node's value over time
    int stop_at = -1;
    /// first node to run (0 = from the input); the earlier nodes that it and later nodes read come from
    /// `resume` (which must hold them), so a network can be simulated one segment at a time (calibration),
    /// or from a first layer's outputs under stacked perturbed weights (Dspike's finite differences; the
    /// given values may have another batch size than x)
    int first = 0;
    /// values of nodes before `first`, by node index
    const std::map<int, snn_node_value> * resume = nullptr;
    /// nodes whose values the run hands back in snn_output::held
    std::vector<int> hold;
    /// inference (not train, no gradient): a conv2d (groups 1, dilation 1) or linear layer whose input varies
    /// over time runs event-driven when its input's nonzero fraction, measured in this run, is below the
    /// crossover: a convolution of a spike node's output by gathering weight rows over bit-packed spikes
    /// (spike_gather.h, spike_gather_wins), also behind an average pooling in windows side by side, from the
    /// windows' spikes without forming the pooled map (spike_gather_pool.h), any other such layer by scattering
    /// them (spike_sparse.h, sparse_path_wins); false: always the dense kernels
    bool sparse = false;
    /// the gathered convolutions' weight rows reused across runs; null: made on every run
    spike_gather_cache * gather_cache = nullptr;
    /// inference: a conv2d (groups 1) whose input is a spike node's output runs on the CPU's AMX-BF16 units with
    /// the weights split into three bfloat16 parts (spike_conv_bf16.h: equal to the float convolution up to the
    /// order of float sums) when spike_conv_bf16_available(); ignored where it is not
    bool spike_bf16 = false;
    /// bfloat16 parts per folded weight on that path: 3 (float-equal sums), or 2 / 1 (weights rounded to 16 / 8
    /// significant bits: fewer multiply-adds, approximate; measure the accuracy)
    int spike_bf16_parts = 3;
    /// on that path, the int8 scheme instead for layers of at least spike_int8_min_channels input channels, where it
    /// measured faster (spike_conv_int8.h: three int8 weight parts per output channel, each channel's weights kept
    /// to 6.1e-8 of its largest, exact integer sums: the float result up to float sums, as the three bfloat16 parts)
    bool spike_int8 = false;
    /// prepared AMX layers (weight parts, oneDNN primitives) reused across runs; null: prepared on every run
    spike_conv_bf16_cache * spike_bf16_cache = nullptr;
    /// initial state of gated max-pool nodes (spike_max_pool), by node index; absent: nothing seen yet
    const std::map<int, spike_max_pool_state> * pool_init = nullptr;
    /// inference over a whole run (not train, no gradient, no stop_at / first / hold / v_init / pool_init, no
    /// observer unless observe_in_groups, direct encoding or a time-major input): images simulated at once, the
    /// batch run in groups of this many, the whole network deep, and the outputs (out, v, pool_state) joined
    /// (snn_chunk.h); 0: chosen by snn_chunk_images from the network's profile (groups only where the network is
    /// bound by memory traffic); -1: the whole batch at once
    int64_t chunk = 0;
    /// threads that run those groups side by side, each group on one thread from the first layer to the last
    /// (parallel_items.h; its data stay in that thread's cache): 0 = the intra-op threads; 1 = one group after
    /// another, every layer on all intra-op threads. Always 1 with an observer (called from one thread only) or
    /// spike_bf16 (its cache is not shared between threads)
    int group_workers = 0;
    /// the observer may see a run as groups of images (each node's output once per group, group after group), as
    /// an observer that sums over batches does not mind: such a run may go in groups (chunk)
    bool observe_in_groups = false;
};

struct snn_output {
    /// the output node's value at every step, [T, N, classes] (analog: the last layer is not spiking)
    at::Tensor out;
    /// final membrane potential of every spike node (undefined for other nodes), for step-wise runs
    std::vector<at::Tensor> v;
    /// the values of the nodes listed in snn_options::hold
    std::map<int, snn_node_value> held;
    /// final state of every gated max-pool node that saw a time-varying input, by node index
    std::map<int, spike_max_pool_state> pool_state;
};

// Runs g as an SNN on x: [N, ...input_shape] (encoded by opt.encoding) or already time-major
// [T, N, ...input_shape]. v_init, when given, overrides each spike node's initial potential (indexed
// by node; undefined entries fall back to the node's "v0" buffer, or zero).
snn_output snn_forward(const graph & g, const at::Tensor & x, const snn_options & opt,
                       const std::vector<at::Tensor> * v_init = nullptr);

// Accuracy (percent) after every step t = 1..T from per-step outputs [T, N, C] and labels [N]: the
// prediction at t is the argmax of the mean output over steps 1..t. Returns the number correct per t.
at::Tensor correct_per_step(const at::Tensor & out, const at::Tensor & labels);

// The value a spike node's spikes carry: its V_th (0-d or per channel) for V_th-valued spikes, else undefined
// (1). What spike_conv_bf16_weight folds into the next convolution's weights.
at::Tensor spike_amplitude(const node & spike_node);

// Whether conv2d node n, given its input x [N, C, H, W], can run on AMX-BF16 (spike_conv_bf16.h): groups 1, a float
// input from a spike node (values 0 or that node's amplitude, scalar or per channel), straight or through an
// average pool over whole k x k windows (values amplitude * q / (k*k)), the path available here and
// spike_conv_bf16_wins for its output width. The executor's rule with snn_options::spike_bf16; a step-wise loop
// asks the same.
bool spike_bf16_applies(const graph & g, const node & n, const at::Tensor & x);

// Conv2d node n on AMX-BF16 for its input x, prepared through `cache`, where spike_bf16_applies: the amplitude of
// the spike node that feeds it and the levels of an average pool between them folded in; nparts bfloat16 weight
// parts (3: float-equal). The executor's layer (snn_options::spike_bf16) and a step-wise loop's.
at::Tensor spike_bf16_conv(const graph & g, const node & n, const at::Tensor & x, spike_conv_bf16_cache & cache,
                           int nparts = 3, bool int8 = false);

// The spike node whose spikes reach node n's first input, straight or through such an average pool (then *levels
// = k*k, else 1); -1 when there is none.
int spike_bf16_source(const graph & g, const node & n, int * levels);

// For a conv2d node n (groups 1) on the float input x [N, C, H, W]: spike_bf16_source when that spike node's
// amplitude is one value or one per channel (what both spike-convolution paths fold into the weights: AMX here,
// the gathered convolutions of snn_options::sparse), else -1.
int spike_conv_source(const graph & g, const node & n, const at::Tensor & x, int * levels);

} // namespace snnkit
