// snnkit/nn/snn_gather.h: the SNN executor's event-driven convolutions on bit-packed spikes (snn_options::sparse).
//
// Used by snn_forward: which convolutions gather weight rows (spike_gather.h) or look them up in a table
// (spike_gather_table.h), over a spike node's output, over average-pooled spikes (spike_gather_pool.h), or over
// spikes packed as the neuron kernel makes them (spike_bits_packer.h: the float spikes then never exist).
#pragma once

#include "snnkit/nn/graph.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/spike_gather.h"

#include <ATen/ATen.h>

#include <array>
#include <vector>

namespace snnkit {

// The convolution n of packed spikes `bits` (its input map H x W; pooled spikes when bits.group > 1) with the
// spikes' amplitudes amp, by gathering weight rows when spike_gather_wins says so for this call's spikes per input
// value (counted as they were packed); an undefined tensor when the dense kernel should run.
at::Tensor snn_gather_rows_conv(const node & n, const spike_bits & bits, int64_t H, int64_t W, const at::Tensor & amp,
                                const snn_options & opt);

// The convolution n of a spike node's packed output (group 1): by table lookup where the layer's table is small
// (spike_gather_table.h: fewer operations than the dense kernel at any rate), else snn_gather_rows_conv.
at::Tensor snn_gather_bits_layer(const node & n, const spike_bits & bits, int64_t H, int64_t W, const at::Tensor & amp,
                                 const snn_options & opt);

// A convolution of a spike node's float output x when opt.sparse allows it: packed, then snn_gather_bits_layer;
// an undefined tensor when another kernel should run.
at::Tensor snn_gather_layer(const graph & g, const node & n, const at::Tensor & x, const snn_options & opt);

// Whether the average pooling node i is left to its one reader, a convolution that gathers weight rows over its
// windows' spikes (snn_gather_pooled_layer): inference with opt.sparse (not AMX), no observer, node i a pooling of
// a spike node's output in windows side by side (spike_gather_pool_fits), not held, read only by a convolution
// (groups 1, dilation 1) that runs in this call. The pooled map is then formed only if that layer runs dense.
bool snn_pool_left_to_gather(const graph & g, int i, int reader, int last, const snn_options & opt);

// The convolution n of an average pooling of spikes (snn_pool_left_to_gather) by gathering weight rows over the
// windows' spikes; an undefined tensor when the pooled map and the dense kernel should run.
at::Tensor snn_gather_pooled_layer(const graph & g, const node & n, const at::Tensor & spikes, const snn_options & opt);

// A spike node's channels-last input ([T, N, C, H, W], or one static step [N, C, H, W]) seen as the neuron kernel's
// [T, N*H*W, C] (or [N*H*W, C]) without a copy, so a per-channel V_th or v(0) applies unchanged; a per-neuron v(0)
// [N, C, H, W] and a deferred add's second input laid out the same way. The executor's float path and
// snn_spike_to_bits both run the node on it.
struct snn_neuron_view {
    /// the neurons, the second input (or undefined) and v(0) as the kernel takes them
    at::Tensor x, x_add, v0;
    /// the map
    int64_t N = 0, C = 0, H = 0, W = 0;
    /// x is one static step, run T times
    bool repeated = false;
};
snn_neuron_view snn_channels_last_neurons(const at::Tensor & xt, int64_t T, const at::Tensor & v0,
                                          const at::Tensor & x_add);

// A spike node's output held as bits for the convolution that reads it (snn_spike_to_bits).
struct snn_packed_spikes {
    /// the spikes of all T steps, packed for the convolution's padding (pooled: spike_bits::group > 1)
    spike_bits bits;
    /// the spike node's map, and the map the convolution reads (the pooled one behind an average pooling)
    int64_t H = 0, W = 0, conv_H = 0, conv_W = 0;
    /// the pooling window between them ({1, 1}: none)
    std::array<int64_t, 2> window{1, 1};
    /// the average pooling node between them, or -1
    int pool = -1;
    /// the value a spike carries (spike_amplitude)
    at::Tensor amp;
};

// Where spike node i's output goes as bits made by the neuron kernel (snn_spike_to_bits): the convolution that
// reads it, straight or through an average pooling left to it (snn_pool_left_to_gather), or conv = -1 when it does
// not. Inference with opt.sparse (no AMX, no observer); node i neither held nor the run's last and read only by
// that node (sole: each node's one reader, or -1); a convolution (groups 1, dilation 1, one input) that runs in
// this call; the amplitude one value or one per channel; the input xt channels last ([T, N, C, H, W], or one static
// step [N, C, H, W]) and, behind a pooling, its windows tiling the map (spike_bits_packer_fits).
struct snn_pack_plan {
    /// the convolution, or -1
    int conv = -1;
    /// the average pooling between, or -1
    int pool = -1;
};
snn_pack_plan snn_spikes_go_packed(const graph & g, int i, const std::vector<int> & sole, int last,
                                   const at::Tensor & xt, const snn_options & opt);

// Runs spike node n on xt (T steps; x_add: a deferred residual add's second input, or undefined; v0 as the executor
// resolved it) with its spikes packed for the plan's convolution; the final potential into *v ([N, C, H, W],
// channels-last strides), as the executor's float path gives it.
snn_packed_spikes snn_spike_to_bits(const graph & g, const node & n, const snn_pack_plan & plan, const at::Tensor & xt,
                                    int64_t T, const at::Tensor & v0, const at::Tensor & x_add, at::Tensor * v);

// The convolution n of packed spikes (group 1: snn_gather_bits_layer; pooled: snn_gather_rows_conv); an undefined
// tensor when the dense kernel should run.
at::Tensor snn_gather_packed_layer(const node & n, const snn_packed_spikes & p, const snn_options & opt);

} // namespace snnkit
