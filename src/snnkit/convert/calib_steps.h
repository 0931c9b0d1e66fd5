// snnkit/convert/calib_steps.h: the formulas of layer-wise calibration (Li, Deng et al., ICML 2021), one
// function each, on tensors a caller has measured (calibrate.cpp walks the network and applies them).
//
// With x the ANN pre-activations of a layer, a = the ANN activation (ReLU or clipped ReLU of x),
// r = the SNN's output rate of the same neurons on the same images (spike count * V_th / T, the ANN's
// units) and e = a - r:
//   threshold search      V_th = argmin over V_k = max(x) * k / grid, k = 1..grid,
//                                of ||clipfloor(x, T, V_k, shift) - a||^2   (per layer, or per channel)
//   bias correction (BC)  b_c += mean over (n, h, w) of e[n, c, h, w]       (per channel)
//   potential corr. (PC)  v(0) += T * mean over n of e[n, ...]              (per neuron)
//   weight calib. (WC)    min over (W, b) of ||a - clipfloor(W s_in + b + rest)||^2 by Adam, a
//                         straight-through estimator through the floor; s_in the SNN's input rates
#pragma once

#include "snnkit/nn/graph.h"

#include <ATen/ATen.h>

#include <utility>

namespace snnkit {

struct threshold_search_options {
    /// number of candidate thresholds V_k = max * k / grid, k = 1..grid
    int64_t grid = 100;
    /// at most this many values (per channel: this many over all channels) enter the error; more are
    /// subsampled with `gen` (the grid still spans the maximum of all values)
    int64_t max_values = int64_t(1) << 21;
    /// the clipped ReLU's upper bound of the ANN activation (0: plain ReLU)
    double clip = 0;
    /// the floor's shift (1/2 with the bias shift or half-init, else 0; see clipfloor.h)
    double shift = 0;
};

// The grid search itself on values already gathered: xs [C, M] (one row per channel, or one row for the
// layer), top [C, 1] the maximum of ALL the values the rows were sampled from (the grid's top).
at::Tensor calib_threshold_grid(const at::Tensor & xs, const at::Tensor & top, const at::Tensor & v_th_now, int64_t T,
                                const threshold_search_options & opt);

// Threshold search over pre-activations pre [N, C, ...] (or [N, F]) for T steps. v_th_now: the current
// threshold, a 0-d tensor (one per layer: the result is 0-d) or [C] (per channel: the result is [C]). A
// layer or channel whose values never exceed 0 keeps v_th_now.
at::Tensor calib_threshold_search(const at::Tensor & pre, const at::Tensor & v_th_now, int64_t T,
                                  const threshold_search_options & opt, at::Generator & gen);

// BC: the per-channel bias correction mean_{n,h,w}(ann_act - snn_rate), [C] (for [N, F]: per feature, [F]).
at::Tensor calib_bias_correction(const at::Tensor & ann_act, const at::Tensor & snn_rate);

// PC: the per-neuron initial-potential correction T * mean_n(ann_act - snn_rate), the shape of one sample.
at::Tensor calib_potential_correction(const at::Tensor & ann_act, const at::Tensor & snn_rate, int64_t T);

// The same two from sums of e accumulated over chunks of images (streamed calibration): BC from the per-channel
// sums over `count` values per channel, PC from the per-neuron sums over `images` images.
at::Tensor calib_bias_correction_from_sums(const at::Tensor & e_sum_channel, int64_t count);
at::Tensor calib_potential_correction_from_sums(const at::Tensor & e_sum_neuron, int64_t images, int64_t T);

// v0 + pc with v0 a scalar, per channel ([C]) or per neuron (one sample's shape), or undefined (= 0); the
// result has pc's (per-neuron) shape.
at::Tensor add_potential_correction(const at::Tensor & v0, const at::Tensor & pc);

struct weight_calib_options {
    /// Adam iterations
    int64_t iters = 300;
    /// learning rate (cosine-annealed to 0)
    double lr = 1e-4;
    /// images per iteration (drawn with replacement)
    int64_t batch = 32;
    /// seed of the batches
    uint64_t seed = 0;
};

// WC: fits (weight, bias) of a linear or conv layer `layer` so that its IF neurons' clip-floor rate matches
// ann_act: minimises mean ||v/T * clip(floor_ste((layer(s_in) + rest) * T / v + v0 / v), 0, T) - ann_act||^2
// by Adam, where v = v_th (0-d or [C]), v0 the neuron's initial potential (undefined = 0; scalar, [C] or per
// neuron) and rest the other inputs of a residual add (undefined: none). s_in: the SNN's input rates of
// the layer [N, ...]. Returns the fitted {weight, bias}; `layer` is not changed.
std::pair<at::Tensor, at::Tensor> calib_weights(const node & layer, const at::Tensor & s_in,
                                                const at::Tensor & rest, const at::Tensor & ann_act,
                                                const at::Tensor & v_th, const at::Tensor & v0, int64_t T,
                                                const weight_calib_options & opt);

} // namespace snnkit
