// snnkit/train/train_job.cpp: what train_ann and train_snn share (train_job_internal.h).
#include "snnkit/train/train_job_internal.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/snn_batch.h"

#include <ATen/Parallel.h>

#include <sys/resource.h>

#include <cstdio>

namespace snnkit {

namespace {

dataset head(const dataset & d, int64_t n) {
    if (n <= 0 || n >= d.images.size(0)) {
        return d;
    }
    dataset r = d;
    r.images = d.images.slice(0, 0, n).contiguous();
    r.labels = d.labels.slice(0, 0, n).contiguous();
    return r;
}

// The dropout p of the model (0 without dropout): what the option, or the architecture's default, made of it.
double model_dropout(const graph & g) {
    double p = 0.0; // the zoo gives every dropout of a net the same p
    for (const auto & n : g.nodes) {
        if (n.op == op_kind::dropout) {
            p = n.attrs.p;
        }
    }
    return p;
}

} // namespace

job_data prepare_job(train_job_options & o, const char * command) {
    if (o.train.out_dir.empty()) {
        fail("--out", "an output directory is required");
    }
    o.train.eval_preprocess = dataset_preprocess(o.data.name);
    o.train.augment = dataset_augment(o.data.name, o.augment, o.crop_pad);
    job_data d;
    d.train = head(load_dataset(o.data, split::train), o.limit_train);
    d.test = head(load_dataset(o.data, split::test), o.limit_test);
    check_same_classes(d.train, d.test, o.data.dir.empty() ? o.data.name : o.data.dir);
    o.zoo.input_shape = d.train.images.sizes().slice(1).vec();
    o.zoo.num_classes = d.train.num_classes;
    o.zoo.seed = o.train.seed; // the seed also draws the initial weights
    if (o.train.progress) {
        std::fprintf(stderr, "%s: %s on %s (%lld train / %lld test images, %lld classes), augmentation %s, %d thread%s\n",
                     command, o.zoo.arch.c_str(), o.data.name.c_str(), static_cast<long long>(d.train.images.size(0)),
                     static_cast<long long>(d.test.images.size(0)), static_cast<long long>(d.train.num_classes),
                     augment_name(o.train.augment).c_str(), at::get_num_threads(), at::get_num_threads() == 1 ? "" : "s");
    }
    return d;
}

void resolve_eval_batch(train_job_options & o, const graph & g, const job_data & d, int64_t T, int64_t cap) {
    if (o.train.eval_batch_size < 0) {
        fail("--eval-batch-size", "must be >= 0 (0 = auto), got " + std::to_string(o.train.eval_batch_size));
    }
    if (o.train.eval_batch_size > 0 || d.test.images.size(0) == 0) {
        o.train.eval_batch_size = o.train.eval_batch_size > 0 ? o.train.eval_batch_size : cap;
        return;
    }
    // as stats/measure.h's snn_run_batch sizes eval's batches (train does not include stats)
    const at::Tensor first = make_batch(d.test.images, at::arange(0, 1, at::kLong), o.train.eval_preprocess, 0);
    o.train.eval_batch_size = snn_batch_for_memory(g, first, T, cap, snn_tensor_bytes(snn_default_memory_budget));
}

train_meta train_config(const train_job_options & o, const graph & g) {
    train_meta t;
    t.epochs = o.train.epochs;
    t.batch_size = o.train.batch_size;
    t.optimizer = o.train.optim.kind;
    t.lr = o.train.optim.lr;
    t.lr_min = o.train.lr_min;
    t.weight_decay = o.train.optim.weight_decay;
    t.momentum = o.train.optim.momentum;
    t.nesterov = o.train.optim.nesterov;
    t.schedule = o.train.schedule;
    t.label_smoothing = o.train.label_smoothing;
    t.dropout = model_dropout(g);
    t.seed = o.train.seed;
    t.augment = augment_name(o.train.augment);
    t.threads = at::get_num_threads();
    t.eval_batch_size = o.train.eval_batch_size;
    return t;
}

nlohmann::json meta_section(const model_meta & m, const char * key) {
    return nlohmann::json::parse(model_meta_to_json(m)).value(key, nlohmann::json());
}

nlohmann::json train_inputs_json(const train_job_options & o, const job_data & d, const graph & g) {
    model_meta m;
    m.train = train_config(o, g);
    return {{"train", meta_section(m, "train")},
            {"train_samples", d.train.labels.size(0)},
            {"test_samples", d.test.labels.size(0)}};
}

std::string model_flags_text(const train_job_options & o, const graph & g) {
    std::string t = "arch " + o.zoo.arch + ", dropout " + nlohmann::json(model_dropout(g)).dump();
    if (o.zoo.clip > 0) {
        t += ", clip " + nlohmann::json(o.zoo.clip).dump();
    }
    return t;
}

void check_saved_setting(const std::string & ckpt, const std::string & what, const std::string & saved,
                         const std::string & now, const std::string & advice) {
    if (!saved.empty() && saved != now) {
        fail(ckpt, "checkpoint was made with " + what + " (" + saved + "), not (" + now + "); " + advice);
    }
}

double peak_rss_mib() {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0; // ru_maxrss is in KiB on Linux
}

} // namespace snnkit
