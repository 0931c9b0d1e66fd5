// snnkit/convert/convert_job.h: a whole conversion as `snnkit convert` and the Python snnkit.convert run it,
// on data in memory: [record the ANN's activation statistics,] convert (convert.h), calibrate (calibrate.h) on
// the given images, and describe the result as the model metadata a converted SNN is saved with (model_meta:
// kind "snn-converted", conversion, calibration, ...). Nothing is read or written here.
//
// QCFS models (train-ann --act qcfs) convert with v(0) = V_th/2 and soft reset: half_init is set, and a
// calibration's threshold search runs only with qcfs_lambda "search" (else the trained lambdas stay).
#pragma once

#include "snnkit/convert/calibrate.h"
#include "snnkit/convert/convert.h"
#include "snnkit/io/model_meta.h"
#include "snnkit/nn/graph.h"

#include <string>
#include <vector>

namespace snnkit {

struct convert_job_options {
    /// conversion settings; threshold may also be "search" (= "max", then a threshold search)
    convert_options conv;
    /// calibration steps and their settings (calib_preset(calib) plus any explicit steps)
    calib_options cal;
    /// name of the preset the calibration steps came from ("none" | "light" | "advanced"), recorded
    std::string calib = "none";
    /// QCFS model, when calibrating: "keep" the trained lambdas as thresholds, or "search" (refine them)
    std::string qcfs_lambda = "keep";
    /// record the ANN's activation statistics on the first stats_samples calibration images before converting
    /// (a graph straight from the ONNX importer has none; a trained model's saved statistics are replaced)
    bool record_stats = false;
    /// calibration images the statistics are recorded on (record_stats)
    int64_t stats_samples = 1024;
    /// dataset the model is for, recorded in the SNN's metadata (empty: the ANN metadata's, else "fmnist")
    std::string dataset;
    /// the ANN's model directory, recorded as the SNN's "source_model" (eval compares against it; may be empty)
    std::string source_model;
};

struct convert_job_result {
    /// the converted (and calibrated) SNN
    graph snn;
    /// the ANN as converted: the input graph, with the statistics recorded when record_stats
    graph ann;
    /// the SNN's model metadata for save_model (its conversion and calibration: the settings in force and the
    /// per-layer report)
    model_meta meta;
    /// the calibration's report (empty when nothing was calibrated)
    calib_report report;
    /// calibration images used (0 when nothing was calibrated)
    int64_t calib_images = 0;
    /// dataset recorded in the metadata
    std::string dataset;
    /// the settings actually used (QCFS: half_init set, threshold search per qcfs_lambda)
    convert_options conv;
    /// calibration steps actually run
    calib_options cal;
    /// the ANN is a QCFS model
    bool qcfs = false;
};

// True if opt.cal asks for any calibration step (threshold search, BC, PC, WC) or opt.conv.threshold is "search".
bool convert_job_calibrates(const convert_job_options & opt);

// Converts `ann` (a trained ANN, kind "ann" or not recorded; ann_meta its metadata) and calibrates it on
// `images` ([N, ...input_shape], float32, CPU, preprocessed as the ANN expects; may be undefined when neither
// calibration nor record_stats asks for images). Throws snnkit::error for a graph that is not an ANN, settings
// that contradict each other, images of the wrong shape / dtype / device or with NaN or Inf, and every
// conversion / calibration error (naming the layer).
convert_job_result run_convert_job(const graph & ann, const model_meta & ann_meta, const at::Tensor & images,
                                   const convert_job_options & opt);

// `n` images of a dataset's training split for calibration, preprocessed by the model's own normalisation
// (meta's mean / std, else the dataset's): a seeded random subset (seed mixed as snnkit convert does),
// all of them when the split is smaller.
at::Tensor calibration_images(const std::string & dataset, const std::string & dir, const model_meta & meta,
                              int64_t n, uint64_t seed);

} // namespace snnkit
