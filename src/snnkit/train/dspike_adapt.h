// snnkit/train/dspike_adapt.h: Dspike temperature adaptation (Li et al., NeurIPS 2021).
//
// At the start of each epoch, on one training batch:
//   FDG_i = (L(w + eps e_i) - L(w - eps e_i)) / (2 eps)      i over the first layer's weights (or a subset S)
//   g(c)  = dL/dw by BPTT with the Dspike surrogate at temperature c, for c in {b - db, b, b + db}
//   b    <- the c whose g(c) restricted to S has the highest cosine similarity to FDG_S
// L is the cross-entropy of the network as training computes it on that batch, without dropout, so the finite
// differences and the three BPTT gradients are taken of one deterministic function. BatchNorm either uses the
// batch's statistics at the current weights, held fixed (default), or recomputes them at every perturbed
// weight as training does (bn_batch_stats: exactly the training loss, including its invariance to the scale
// of each channel's weights).
// With fixed statistics the 2|S| perturbed losses are evaluated in batches: the first layer runs once per batch
// of perturbed weight copies stacked along its output, and the rest of the network sees the copies stacked
// along N; with batch statistics, one forward per copy.
#pragma once

#include "snnkit/nn/graph.h"

#include <array>
#include <functional>
#include <string>

namespace snnkit {

struct dspike_adapt_options {
    /// step between the three candidate temperatures b - db, b, b + db
    double db = 0.5;
    /// finite-difference step epsilon (in weight units)
    double eps = 1e-2;
    /// first-layer weight coordinates in the FDG (0 = all when there are at most 1024, else 1024 seeded-random)
    int64_t coords = 0;
    /// perturbed weight copies evaluated together in one batched forward
    int64_t copies = 8;
    /// smallest temperature a candidate may take
    double b_min = 0.05;
    /// seed of the coordinate subset (drawn anew each epoch)
    uint64_t seed = 0;
    /// label smoothing of the training loss (both gradients are of the loss that training descends)
    double label_smoothing = 0.0;
    /// BatchNorm in the compared function: false = the batch's statistics at the current weights, held fixed
    /// (perturbed copies run stacked); true = each perturbed copy's own batch statistics, exactly the loss
    /// training descends (one forward per copy; the gradients then also flow through the statistics)
    bool bn_batch_stats = false;
    /// data-parallel: this rank takes every shard_count-th FDG coordinate from shard_rank, and sum_shards (an
    /// all-reduce sum over the ranks) completes the FDG on every rank, so its cost divides by the rank count
    int shard_rank = 0;
    /// number of ranks sharing the FDG (1 = all here)
    int shard_count = 1;
    /// element-wise sum over the ranks of a [K] double tensor, in place (needed when shard_count > 1)
    std::function<void(at::Tensor &)> sum_shards;
};

struct dspike_epoch_report {
    int epoch = 0;                        ///< 0-based epoch it was measured for
    double b = 0;                         ///< the temperature chosen for the epoch
    std::array<double, 3> candidates{};   ///< b_prev - db, b_prev, b_prev + db
    std::array<double, 3> cosine{};       ///< cosine similarity of each candidate's gradient to the FDG
    int64_t coords = 0;                   ///< coordinates in the FDG
    double fdg_seconds = 0;               ///< wall time of the finite differences
    double bptt_seconds = 0;              ///< wall time of the three BPTT gradients
    std::string to_json() const;          ///< {"b":..,"candidates":[..],"cosine":[..],"coords":..,...}
};

// Maps a stack of P weights [P, ...w.shape] to their P losses [P] (double).
using batched_loss_fn = std::function<at::Tensor(const at::Tensor & w_stack)>;

// Central finite-difference gradient along flat coordinates `coords` of w:
//   out[k] = (loss(w + eps e_{coords[k]}) - loss(w - eps e_{coords[k]})) / (2 eps)        (double, [K])
// `loss` is called with at most `copies` perturbed weights at a time.
at::Tensor finite_difference_gradient(const batched_loss_fn & loss, const at::Tensor & w, const at::Tensor & coords,
                                      double eps, int64_t copies);

// cos(a, b) over all elements; 0 when either is all zeros.
double gradient_cosine(const at::Tensor & a, const at::Tensor & b);

// The candidate (0, 1, 2 = b - db, b, b + db) with the highest cosine; the current b (1) unless another
// is strictly higher; NaN never wins.
int dspike_choose(const std::array<double, 3> & cosine);

// The sorted flat coordinates of an epoch's FDG (all, or a seeded random subset; see options.coords).
at::Tensor dspike_coords(int64_t numel, const dspike_adapt_options & opt, int epoch);

// The loss (cross-entropy with label smoothing ls) of SNN g over T steps on (x, y) for each of a stack of
// weights of node `layer` (its first conv / linear): [P] (double). Inference mode; with batch_stats, training
// mode (BatchNorm with each copy's batch statistics; g's dropout should be off), one forward per copy.
at::Tensor snn_loss_for_weights(const graph & g, int64_t T, int layer, const at::Tensor & x, const at::Tensor & y,
                                const at::Tensor & w_stack, double ls = 0.0, bool batch_stats = false);

// The pieces of one adaptation step, exposed for measurements (bench/dspike_fdg_probe):
// A copy of g with dropout off; unless batch_stats, its BatchNorm layers also hold the batch x's statistics
// as fixed running statistics, so that in inference mode it computes what training mode computes on x at
// g's weights. Either way the copy is one deterministic function of the weights, the function both gradients
// below are taken of.
graph dspike_frozen_copy(const graph & g, int64_t T, const at::Tensor & x, bool batch_stats = false);
// The FDG of c's loss on (x, y) along flat coordinates `coords` of its first weight layer: [K] (double).
at::Tensor dspike_fdg(const graph & c, int64_t T, const at::Tensor & x, const at::Tensor & y,
                      const at::Tensor & coords, const dspike_adapt_options & opt);
// The BPTT gradient of c's loss on (x, y) w.r.t. its first weight layer with every spiking layer's Dspike
// temperature set to b (c keeps b): flat [numel] (float).
at::Tensor dspike_bptt_grad(graph & c, int64_t T, const at::Tensor & x, const at::Tensor & y, double b,
                            const dspike_adapt_options & opt);

// One adaptation step on the batch (x, y) from temperature b. The spike nodes of g must use the Dspike
// surrogate; on return they carry the chosen temperature (report.b).
dspike_epoch_report dspike_adapt(graph & g, int64_t T, const at::Tensor & x, const at::Tensor & y, double b,
                                 const dspike_adapt_options & opt, int epoch);

} // namespace snnkit
