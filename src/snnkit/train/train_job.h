// snnkit/train/train_job.h: a whole training run, as `snnkit train-ann` and `snnkit train-snn` do it, in one
// library call: load and cut the dataset, build the model (a zoo architecture, or a saved model to start from),
// train it (train_loop: checkpoints, bit-exact resume), and save it to train.out_dir with its metadata. The
// command and the Python module are clients of these functions. Bad options throw snnkit::error naming the
// option (by its command-line flag) and the problem.
#pragma once

#include "snnkit/data/dataset_by_name.h"
#include "snnkit/io/model_meta.h"
#include "snnkit/nn/zoo.h"
#include "snnkit/train/dspike_adapt.h"
#include "snnkit/train/snn_model.h"
#include "snnkit/train/trainer.h"

#include <string>

namespace snnkit {

// What every training job takes.
struct train_job_options {
    /// dataset name and directory
    dataset_spec data;
    /// architecture, dropout, clip, activation (its seed, input shape and classes are filled in from `train`
    /// and the data)
    zoo_options zoo;
    /// epochs, batch, optimizer, schedule, out_dir, resume, checkpoints, progress; its augment and
    /// eval_preprocess are filled in from the dataset and the fields below; eval_batch_size 0 = auto
    trainer_options train;
    /// use only the first N training images (0 = all)
    int64_t limit_train = 0;
    /// use only the first N test images (0 = all)
    int64_t limit_test = 0;
    /// training augmentation: default | none | crop | flip | crop+flip (dataset_augment)
    std::string augment = "default";
    /// zero-padding of the random crop, pixels
    int crop_pad = 4;
};

// train-ann: an ANN from the zoo, or a saved ANN fine-tuned into a QCFS one.
struct train_ann_options {
    /// data, architecture, training
    train_job_options job;
    /// unaugmented training images of the activation statistics recorded after training (conversion needs them)
    int64_t stats_samples = 1024;
    /// fine-tune this saved ANN (train-ann, import-onnx) into a QCFS one instead of a fresh zoo model ("" = zoo;
    /// needs job.zoo.act "qcfs")
    std::string init_dir;
    /// training images of the QCFS lambda statistics (job.zoo.act "qcfs")
    int64_t lambda_samples = 256;
};

// train-snn: a zoo architecture with every ReLU a spiking neuron, trained by BPTT with a surrogate gradient.
struct train_snn_options {
    /// data, architecture, training
    train_job_options job;
    /// T, V_th, learn_alpha, detach_reset (alpha, reset and surrogate are set from the fields below)
    snn_model_options snn;
    /// lif | if (if: alpha = 1)
    std::string neuron = "lif";
    /// LIF leak factor alpha (lif only)
    double alpha = 0.5;
    /// soft | hard
    std::string reset = "hard";
    /// rect | triangle | exp | sigmoid | atan | dspike
    std::string surrogate = "atan";
    /// surrogate width / sharpness / Dspike b (0 = the surrogate's default; unused with dspike_adapt)
    double surrogate_param = 0.0;
    /// adapt Dspike's temperature b each epoch by FDG cosine (needs surrogate dspike)
    bool dspike_adapt = false;
    /// the adaptation's starting temperature
    double b0 = 3.0;
    /// the adaptation's settings (its seed and label smoothing are taken from job.train)
    dspike_adapt_options adapt;
    /// BatchNorm in the adaptation's compared loss: frozen | batch (dspike_adapt_options::bn_batch_stats)
    std::string fdg_bn = "frozen";
    /// start from the weights of this saved model of the same architecture ("" = fresh; hybrid training)
    std::string init;
    /// per-step (a new dropout mask every step) | shared (one mask for all T steps)
    std::string dropout_mask = "per-step";
};

struct train_job_result {
    /// the trained model, also saved to job.train.out_dir (empty when interrupted)
    graph model;
    /// its metadata, as saved
    model_meta meta;
    /// history, final accuracy, time, interrupted
    train_result train;
    /// the command's result (a JSON object as text, without provenance): command, arch, dataset, accuracy,
    /// epochs, seconds, peak memory, model directory, history, training configuration, sample counts, ...
    /// ("" when interrupted)
    std::string result_json;
    /// images in the training and test splits used
    int64_t train_images = 0;
    int64_t test_images = 0;
    /// train-snn with dspike_adapt: the final temperature and the seconds spent adapting
    double dspike_b = 0;
    double dspike_seconds = 0;
};

// Trains an ANN. When the training stops early (max_steps, a signal) after its checkpoint, the result has
// train.interrupted set and nothing else is saved; resume with job.train.resume.
train_job_result train_ann(const train_ann_options & options);

// Trains an SNN directly; interruption as train_ann.
train_job_result train_snn(const train_snn_options & options);

} // namespace snnkit
