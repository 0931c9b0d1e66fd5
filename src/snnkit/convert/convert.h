// snnkit/convert/convert.h: ANN -> SNN conversion by threshold balancing (a graph rewrite).
//
// Fold BN into the preceding conv/linear, drop dropout, and replace each ReLU / clipped ReLU by an IF
// neuron (alpha = 1, soft reset, V_th-valued spikes) whose threshold is that layer's activation
// statistic (max, or a percentile; per layer or per channel). Avg-pool, global pooling, flatten and
// residual adds act linearly on spikes and stay as they are; the last layer stays analog (its output is
// averaged over T). Max-pool becomes the gated spiking max-pool of Rueckauer et al. 2017 (node attribute
// `gated`; snnkit/nn/spike_max_pool.h): each window passes the spikes of its input with the largest
// accumulated input so far.
//
// A QCFS activation (snnkit/nn/qcfs.h; a model trained with train-ann --act qcfs) becomes an IF neuron with
// V_th = its trained lambda, v(0) = V_th / 2 and soft reset, whatever threshold statistic is asked for (a
// statistic other than "max" or channel_wise is refused, as is the bias shift: v(0) = V_th / 2 is already
// the half-step shift; half_init changes nothing). A model may not mix QCFS and ReLU layers. Calibration of
// such a model takes convert options with half_init set (snnkit convert sets it), so that the threshold
// search and set_threshold() keep v(0) = V_th / 2 (its target is then clamp(x, 0, lambda)).
#pragma once

#include "snnkit/nn/graph.h"

#include <string>

namespace snnkit {

struct convert_options {
    /// simulation length the conversion targets (the bias shift V_th/(2T) depends on it)
    int64_t T = 32;
    /// threshold statistic: "max" | "p99.9" | "p99.99" (calibration's "search" refines it afterwards)
    std::string threshold = "max";
    /// one threshold per channel (per-channel maximum) instead of one per layer
    bool channel_wise = false;
    /// Deng & Gu bias shift: b += V_th / (2T) on every spiking layer
    bool bias_shift = false;
    /// initial potential v(0) = V_th / 2 (the equivalent alternative to the bias shift; not both)
    bool half_init = false;
};

// The shift inside clipfloor's floor that these options imply (1/2 with bias shift or half-init, else 0).
double convert_shift(const convert_options & opt);

// True if g has a QCFS activation.
bool is_qcfs_model(const graph & g);

// Converts a trained ANN graph (with activation statistics, see snnkit/nn/act_stats.h) into an SNN graph.
// Throws snnkit::error naming the layer for what cannot be converted.
graph convert_to_snn(const graph & ann, const convert_options & opt);

// The source ANN as conversion starts from and calibration / evaluation compare against: BN folded into
// the preceding conv/linear, dropout removed (node names unchanged).
graph ann_reference(const graph & ann);

// Index of the conv/linear node whose bias feeds spike node i (through a residual add: its first
// input's), or -1 if there is none.
int bias_owner(const graph & g, int i);

} // namespace snnkit
