// snnkit/io/model_meta.h: a model's metadata (the "meta" object of model.json) as a typed struct: what the
// model is (ANN, trained SNN, converted SNN), what it was trained or converted on, how, and with what result.
// Every field is optional in a file: an absent key reads as the field's default (empty, 0, nullopt), so files
// written by older versions load, and keys this version does not know are kept in `extra` and written back.
// The architecture, input shape and class count are the graph's own (graph::arch, input_shape, num_classes).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace snnkit {

// One epoch of a training history (train_log.jsonl lines and the "history" of a model and a result).
struct epoch_metrics {
    int epoch = 0;
    double train_loss = 0;
    double train_accuracy = 0; ///< percent
    double test_accuracy = 0;  ///< percent
    double lr = 0;
    double seconds = 0;
    std::string note;          ///< JSON object text from train_hooks::on_epoch, merged into the log entry
};

// QCFS training settings ("train"."qcfs" of a train-ann --act qcfs model).
struct qcfs_train_meta {
    /// quantisation levels L
    int64_t levels = 0;
    /// number of QCFS layers
    int64_t layers = 0;
    /// how lambda started (text)
    std::string lambda_init;
    /// training images of the lambda statistics
    int64_t lambda_samples = 0;
    /// layer -> lambda before training
    std::map<std::string, double> lambda_initial;
    /// weight decay applied to lambda
    double lambda_weight_decay = 0;
    /// the ANN fine-tuned into a QCFS one (absolute path; "" = a fresh zoo model)
    std::string init;
    /// keys not listed above (JSON object text)
    std::string extra = "{}";
};

// The training configuration ("train").
struct train_meta {
    /// epochs asked for
    int64_t epochs = 0;
    /// training batch size
    int64_t batch_size = 0;
    /// sgd | adam | adamw
    std::string optimizer;
    /// peak learning rate
    double lr = 0;
    /// final learning rate of the cosine schedule
    double lr_min = 0;
    /// weight decay
    double weight_decay = 0;
    /// SGD momentum
    double momentum = 0;
    /// Nesterov momentum
    bool nesterov = false;
    /// cosine | constant
    std::string schedule;
    /// label smoothing of the loss
    double label_smoothing = 0;
    /// the model's dropout p (0 = none)
    double dropout = 0;
    /// seed of init, data order, augmentation, dropout
    uint64_t seed = 0;
    /// augmentation name (augment_name)
    std::string augment;
    /// intra-op threads used
    int64_t threads = 0;
    /// per-epoch test batch size
    int64_t eval_batch_size = 0;
    /// train-ann: the clipped-ReLU value (0 = plain ReLU); nullopt for train-snn
    std::optional<double> clip;
    /// train-ann: the activation, relu | qcfs ("" = not recorded)
    std::string act;
    /// train-ann --act qcfs: its settings
    std::optional<qcfs_train_meta> qcfs;
    /// keys not listed above (JSON object text)
    std::string extra = "{}";
};

// Dspike temperature adaptation settings ("neuron"."dspike_adapt_settings").
struct dspike_adapt_meta {
    /// initial temperature b
    double b0 = 0;
    /// candidate step
    double db = 0;
    /// finite-difference step
    double eps = 0;
    /// first-layer weights in the FDG
    int64_t fdg_coords = 0;
    /// frozen | batch
    std::string fdg_bn;
    /// keys not listed above (JSON object text)
    std::string extra = "{}";
};

// The neuron of a directly trained SNN ("neuron").
struct neuron_meta {
    /// lif | if
    std::string neuron;
    /// leak factor alpha (the starting value with learn_alpha)
    double alpha = 0;
    /// PLIF: each spiking layer learned its own alpha
    bool learn_alpha = false;
    /// layer -> alpha after training (nullopt without learn_alpha; written as null)
    std::optional<std::map<std::string, double>> learned_alpha;
    /// firing threshold
    double v_th = 0;
    /// soft | hard
    std::string reset;
    /// no gradient through the reset
    bool detach_reset = false;
    /// surrogate name
    std::string surrogate;
    /// surrogate parameter (width / sharpness / Dspike b)
    double surrogate_param = 0;
    /// Dspike's temperature was adapted each epoch
    bool dspike_adapt = false;
    /// its settings (nullopt without adaptation; written as null)
    std::optional<dspike_adapt_meta> dspike_adapt_settings;
    /// the surrogate parameter after training (the adapted b)
    double final_surrogate_param = 0;
    /// keys not listed above (JSON object text)
    std::string extra = "{}";
};

// Final metrics of a training ("metrics", and a converted model's "source_metrics").
struct metrics_meta {
    /// percent, after the last epoch
    double test_accuracy = 0;
    /// wall time of the training steps
    double train_seconds = 0;
    /// epochs completed
    int64_t epochs = 0;
    /// keys not listed above (JSON object text)
    std::string extra = "{}";
};

// How a QCFS model was converted ("conversion"."qcfs").
struct qcfs_conversion_meta {
    /// quantisation levels L (-1: layers differ)
    int64_t levels = 0;
    /// number of QCFS layers
    int64_t layers = 0;
    /// keep | search
    std::string lambda;
    /// where V_th comes from ("lambda")
    std::string v_th;
    /// the initial potential ("V_th/2")
    std::string v0;
    /// reset mode ("soft")
    std::string reset;
    /// keys not listed above (JSON object text)
    std::string extra = "{}";
};

// The conversion and calibration settings of a converted SNN ("conversion").
struct conversion_meta {
    /// simulation length the conversion targets
    int64_t T = 0;
    /// max | p99.9 | p99.99 | search
    std::string threshold;
    /// one threshold per channel
    bool channel_wise = false;
    /// bias shift V_th/(2T)
    bool bias_shift = false;
    /// initial potential V_th/2
    bool half_init = false;
    /// calibration preset: none | light | advanced
    std::string calib;
    /// per-layer threshold search
    bool threshold_search = false;
    /// bias correction
    bool bias_correction = false;
    /// potential correction
    bool potential_correction = false;
    /// weight calibration
    bool weight_calibration = false;
    /// unaugmented training images the calibration used
    int64_t calib_samples = 0;
    /// calibration memory budget, MiB
    int64_t memory_budget_mib = 0;
    /// images per streamed calibration chunk
    int64_t calib_chunk_images = 0;
    /// images of the weight calibration
    int64_t wc_images = 0;
    /// weight calibration iterations
    int64_t wc_iters = 0;
    /// weight calibration learning rate
    double wc_lr = 0;
    /// a QCFS model: how it was converted
    std::optional<qcfs_conversion_meta> qcfs;
    /// a QCFS model: the training configuration of the source ANN
    std::optional<train_meta> source_train;
    /// keys not listed above (JSON object text)
    std::string extra = "{}";
};

// One layer of a calibration report ("calibration").
struct layer_calibration_meta {
    /// layer name
    std::string layer;
    /// threshold before and after calibration
    double v_th_before = 0, v_th_after = 0;
    /// conversion MSE before and after calibration
    double mse_before = 0, mse_after = 0;
    /// keys not listed above (JSON object text)
    std::string extra = "{}";
};

struct model_meta {
    /// ann | snn (trained directly) | snn-converted ("" = not recorded)
    std::string kind;
    /// what made it: "train-snn", "onnx", ... ("" = not recorded)
    std::string source;
    /// dataset name it was trained / converted on ("" = not recorded)
    std::string dataset;
    /// class names (ImageFolder folders, CIFAR names; empty for IDX data or not recorded)
    std::vector<std::string> classes;
    /// input normalisation: per-channel mean and std ("preprocess"; empty = the dataset's standard one)
    std::vector<float> mean, std;
    /// time steps of a directly trained SNN (0 = not recorded; converted models: conversion->T)
    int64_t T = 0;
    /// training images of the activation statistics (0 = not recorded)
    int64_t stats_samples = 0;
    /// import-onnx: the ONNX file (absolute path)
    std::string onnx_file;
    /// a converted SNN: the ANN directory (absolute path)
    std::string source_model;
    /// train-snn: the model whose weights started the training (absolute path; "" = none; nullopt = not recorded)
    std::optional<std::string> init;
    /// train-snn: per-step | shared
    std::string dropout_mask;
    /// training configuration
    std::optional<train_meta> train;
    /// train-snn: the neuron
    std::optional<neuron_meta> neuron;
    /// final training metrics
    std::optional<metrics_meta> metrics;
    /// a converted SNN: the source ANN's metrics
    std::optional<metrics_meta> source_metrics;
    /// a converted SNN: conversion and calibration settings
    std::optional<conversion_meta> conversion;
    /// a converted SNN: the calibration report, per layer
    std::optional<std::vector<layer_calibration_meta>> calibration;
    /// a converted SNN: calibration wall time
    std::optional<double> calibration_seconds;
    /// per-epoch training history
    std::vector<epoch_metrics> history;
    /// top-level keys not listed above (JSON object text), written back unchanged
    std::string extra = "{}";
};

// The metadata as a JSON object (text): known fields that are set, then the keys of `extra`.
std::string model_meta_to_json(const model_meta & m);

// Reads a JSON object (text; "" = {}); a known key of the wrong type throws snnkit::error naming `where` and
// the key. Unknown keys go to `extra` (of the struct they appear in).
model_meta model_meta_from_json(const std::string & text, const std::string & where);

// The model's time steps: T, else the conversion's T, else `fallback`.
int64_t model_time_steps(const model_meta & m, int64_t fallback);

// The per-epoch history as a JSON array (text), each entry with its note's keys merged in; the format of
// train_log.jsonl lines and of the "history" of the CLI's JSON results.
std::string history_to_json(const std::vector<epoch_metrics> & history);

// And back: the keys an entry has besides the trainer's own go to its note. Throws naming `where`.
std::vector<epoch_metrics> history_from_json(const std::string & text, const std::string & where);

} // namespace snnkit
