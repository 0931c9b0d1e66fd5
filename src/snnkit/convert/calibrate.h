// snnkit/convert/calibrate.h: layer-wise calibration of a converted SNN (Li, Deng et al., ICML 2021).
//
//   Adaptive threshold: per spiking layer, a grid search of `grid` thresholds linearly spaced in
//     (0, max(x)] minimising ||clipfloor(x, T, V_th, shift) - ReLU(x)||^2 over the ANN pre-activations x
//     on calibration data (shift consistent with the bias shift / half-init in force).
//   Then, layer by layer from first to last, each step seeing the already calibrated earlier layers,
//   with e = ANN activation - SNN output rate (spike count * V_th / T, the ANN's units):
//   BC  bias correction      b_c += mean_{n,h,w} e_c
//   PC  potential correction v(0) += T * mean_n e          (per neuron)
//   WC  weight calibration   min_W ||a - clipfloor(W s_in + b)||^2 by Adam, a straight-through
//                            estimator through the floor, s_in the SNN's input rates to the layer.
#pragma once

#include "snnkit/convert/convert.h"
#include "snnkit/nn/graph.h"
#include "snnkit/nn/snn_batch.h"

#include <map>
#include <string>
#include <vector>

namespace snnkit {

/// default memory budget of calibration (the one of eval and stats too): 1 GiB
constexpr int64_t calib_default_memory_budget = snn_default_memory_budget;

struct calib_options {
    /// the half-step shift of the conversion the calibration starts from (calib_conversion): v(0) = V_th/2,
    /// or the bias shift where that is asked for instead (the presets light and advanced set it)
    bool half_step = false;
    /// grid search of each layer's threshold
    bool threshold_search = false;
    /// number of candidate thresholds in the grid
    int64_t grid = 100;
    /// bias correction (BC)
    bool bias_correction = false;
    /// potential correction (PC)
    bool potential_correction = false;
    /// weight calibration (WC)
    bool weight_calibration = false;
    /// WC: Adam iterations per layer
    int64_t wc_iters = 300;
    /// WC: learning rate (cosine-annealed to 0)
    double wc_lr = 1e-4;
    /// WC: batch size of the iterations
    int64_t wc_batch = 32;
    /// at most this many images per chunk of a calibration pass (fewer where memory_budget asks)
    int64_t batch_size = 128;
    /// memory budget of calibration's working set (bytes). Every pass streams over the calibration images in
    /// chunks: one SNN activation tensor [T * chunk, ...] stays within memory_budget / 8, and WC keeps the
    /// inputs and targets of at most memory_budget / 16 bytes of images (a seeded sample when the set is
    /// larger). Means (BC, PC, the errors) are exact over all images whatever the budget
    int64_t memory_budget = calib_default_memory_budget;
    /// with WC: the report's per-layer errors (before / after) are measured on the first this many images
    int64_t report_samples = 256;
    /// at most this many values per layer enter the threshold search (a seeded sample, drawn from each chunk
    /// in proportion to its size; the grid still spans the maximum of all values)
    int64_t search_values = int64_t(1) << 21;
    /// seed of subsampling and WC batches
    uint64_t seed = 0;
    /// draw progress lines
    bool progress = true;
};

// "none" | "light" (half step + search + BC) | "advanced" (half step + search + WC + PC); unknown names throw
// snnkit::error.
calib_options calib_preset(const std::string & name);

// The conversion options a calibration with `cal` starts from: with cal.half_step, the half-step shift is
// added as v(0) = V_th/2 (half_init) unless conv already has it as the bias shift (or as half_init). One
// half step in all: the bias shift and half_init together stay refused (convert_to_snn).
convert_options calib_conversion(convert_options conv, const calib_options & cal);

struct calib_layer_report {
    std::string name;
    double v_th_before = 0; ///< mean threshold before calibration
    double v_th_after = 0;  ///< mean threshold after
    double mse_before = 0;  ///< MSE(ANN activation, SNN rate) on the calibration data before BC/PC/WC of this layer
                            ///< (with WC: on its first report_samples images)
    double mse_after = 0;   ///< after (on the same images)
};

struct calib_report {
    std::vector<calib_layer_report> layers;
    double seconds = 0;
    int64_t chunk_images = 0; ///< images per chunk of the streamed passes
    int64_t wc_images = 0;    ///< images WC fitted on (all, or its bounded sample; 0 without WC)
};

// Calibrates snn in place. ann: the source ANN with BN folded and dropout removed (same node names as
// the SNN's spike nodes; see ann_reference() in convert.h). x: calibration images [N, ...], preprocessed.
// Every pass streams x in chunks (see calib_options::memory_budget): the memory grows with the network and
// one chunk, not with the number of calibration images or T (except x itself and WC's bounded sample).
calib_report calibrate(graph & snn, const graph & ann, const at::Tensor & x, const convert_options & conv,
                       const calib_options & opt);

// The images per chunk that calibrate() streams x in (printed by convert).
int64_t calib_chunk_images(const graph & snn, const at::Tensor & x, int64_t T, const calib_options & opt);

// Sets spike node i's threshold to v_th, keeping the bias shift / half-init consistent with it.
void set_threshold(graph & snn, int i, const at::Tensor & v_th, const convert_options & conv);

// Per spike layer: the MSE between the ANN activation and the SNN output rate over x (no changes made).
std::vector<std::pair<std::string, double>> layer_errors(const graph & snn, const graph & ann, const at::Tensor & x,
                                                         int64_t T, int64_t batch_size);

// The same from rates already measured (rates: spike node index -> [N, ...] output rate over the N images
// of x, e.g. collected by an observer of an accuracy run, so that no second simulation is needed).
std::vector<std::pair<std::string, double>> layer_errors_from_rates(const graph & snn, const graph & ann,
                                                                    const at::Tensor & x,
                                                                    const std::map<int, at::Tensor> & rates,
                                                                    int64_t batch_size);

} // namespace snnkit
