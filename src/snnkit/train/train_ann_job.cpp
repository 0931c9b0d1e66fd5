// snnkit/train/train_ann_job.cpp: train_ann (train_job.h): an ANN from the zoo (or a saved ANN fine-tuned into
// a QCFS one), trained and saved with its activation statistics (which conversion needs).
#include "snnkit/train/train_job_internal.h"

#include "snnkit/core/error.h"
#include "snnkit/data/model_data.h"
#include "snnkit/io/model_io.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/qcfs.h"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <map>
#include <optional>

namespace snnkit {

namespace {

// Each QCFS layer's lambda.
std::map<std::string, double> qcfs_lambdas(const graph & g) {
    std::map<std::string, double> lam;
    for (const auto & nd : g.nodes) {
        if (nd.op == op_kind::qcfs) {
            lam[nd.name] = nd.tensor("lambda").item<double>();
        }
    }
    return lam;
}

// The model to train: a fresh zoo architecture, or (init_dir) a saved ANN with the model's own preprocessing.
// With act qcfs every ReLU becomes a QCFS activation whose lambda starts at the p99.9 of the layer's ReLU
// output on lambda_samples unaugmented training images (qcfs_from_relu); `qcfs` gets what was done.
graph build_model(train_ann_options & o, const job_data & d, std::optional<qcfs_train_meta> & qcfs) {
    train_job_options & a = o.job;
    if (a.zoo.act != "relu" && a.zoo.act != "qcfs") {
        fail("--act " + a.zoo.act, "unknown activation (known: relu, qcfs)");
    }
    if (a.zoo.act == "qcfs" && a.zoo.clip > 0) {
        fail("--clip", "QCFS clips at its own trainable lambda (--act qcfs); leave out --clip");
    }
    graph g;
    if (o.init_dir.empty()) {
        zoo_options z = a.zoo;
        z.act = "relu"; // built with ReLUs, which qcfs_from_relu turns into QCFS with measured lambdas
        g = zoo_build(z);
    } else {
        if (a.zoo.act != "qcfs") {
            fail("--init", "fine-tunes a saved ANN into a QCFS one: give --act qcfs");
        }
        model_meta meta;
        g = load_model(o.init_dir, &meta);
        if (!meta.kind.empty() && meta.kind != "ann") {
            fail(o.init_dir, "is not an ANN (kind '" + meta.kind + "')");
        }
        if (g.input_shape != a.zoo.input_shape || g.num_classes != a.zoo.num_classes) {
            fail(o.init_dir, "model input " + nlohmann::json(g.input_shape).dump() + " with " +
                                 std::to_string(g.num_classes) + " classes does not fit the dataset (" +
                                 nlohmann::json(a.zoo.input_shape).dump() + ", " + std::to_string(a.zoo.num_classes) +
                                 " classes)");
        }
        check_model_classes(meta, d.test, o.init_dir + " vs " + (a.data.dir.empty() ? a.data.name : a.data.dir));
        const augment_options pre = model_preprocess(meta, a.data.name);
        a.train.eval_preprocess.mean = a.train.augment.mean = pre.mean; // an imported model's own normalisation
        a.train.eval_preprocess.std = a.train.augment.std = pre.std;
        a.zoo.arch = g.arch;
    }
    if (a.zoo.act == "qcfs") {
        const int64_t n = std::min<int64_t>(o.lambda_samples, d.train.images.size(0));
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(a.train.seed + 29);
        const at::Tensor idx = at::randperm(d.train.images.size(0), gen, at::kLong).slice(0, 0, n);
        qcfs_init_options qo;
        qo.levels = a.zoo.levels;
        const int layers = qcfs_from_relu(g, make_batch(d.train.images, idx, a.train.eval_preprocess, 0), qo);
        if (layers == 0) {
            fail("--act qcfs", "the model has no ReLU to turn into a QCFS activation");
        }
        qcfs_train_meta q;
        q.levels = a.zoo.levels;
        q.layers = layers;
        q.lambda_init = "p99.9 of the layer's ReLU output, BN batch statistics";
        q.lambda_samples = n;
        q.lambda_initial = qcfs_lambdas(g);
        q.lambda_weight_decay = a.train.optim.weight_decay;
        if (!o.init_dir.empty()) {
            q.init = std::filesystem::absolute(o.init_dir).string();
        }
        qcfs = q;
    }
    return g;
}

} // namespace

train_job_result train_ann(const train_ann_options & options) {
    train_ann_options o = options;
    train_job_options & a = o.job;
    const job_data d = prepare_job(a, "train-ann");
    std::optional<qcfs_train_meta> qcfs; // nullopt without act qcfs
    train_job_result res;
    res.train_images = d.train.images.size(0);
    res.test_images = d.test.images.size(0);
    graph g = build_model(o, d, qcfs);
    resolve_eval_batch(a, g, d, 1, 1000);
    // The checkpoint keeps the model flags; a resume must build the same model.
    std::string model_text = model_flags_text(a, g);
    if (qcfs) {
        model_text += ", act qcfs, levels " + std::to_string(a.zoo.levels) + ", lambda samples " +
                      std::to_string(qcfs->lambda_samples) + (o.init_dir.empty() ? "" : ", init " + qcfs->init);
    }
    train_hooks hooks;
    hooks.save_state = [&]() { return nlohmann::json({{"model", model_text}}).dump(); };
    hooks.load_state = [&](const std::string & s) { // empty in checkpoints of older versions
        const nlohmann::json j = s.empty() ? nlohmann::json::object() : nlohmann::json::parse(s);
        check_saved_setting(a.train.out_dir + "/checkpoint.safetensors", "model settings",
                            j.value("model", std::string()), model_text,
                            "resume with the same model flags, or start a new --out");
    };
    res.train = train_loop(g, ann_forward_fn(g), d.train, d.test, a.train, hooks);
    if (res.train.interrupted) {
        return res;
    }
    const train_result & r = res.train;

    // Activation statistics on the first N (seeded-permuted) unaugmented training images.
    const int64_t ns = std::min<int64_t>(o.stats_samples, d.train.images.size(0));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(a.train.seed + 17);
    const at::Tensor idx = at::randperm(d.train.images.size(0), gen, at::kLong).slice(0, 0, ns);
    const int layers = record_activation_stats(g, make_batch(d.train.images, idx, a.train.eval_preprocess, 0));

    const auto & pre = a.train.eval_preprocess;
    model_meta & meta = res.meta;
    meta.kind = "ann";
    meta.dataset = a.data.name;
    meta.classes = d.train.class_names; // ImageFolder folders / CIFAR names (none for IDX): eval checks them
    meta.mean = pre.mean;
    meta.std = pre.std;
    meta.train = train_config(a, g);
    meta.train->clip = a.zoo.clip;
    meta.train->act = a.zoo.act;
    meta.train->qcfs = qcfs;
    meta.metrics = metrics_meta{r.test_accuracy, r.train_seconds, r.epochs};
    meta.stats_samples = ns;
    meta.history = r.history;
    save_model(a.train.out_dir, g, meta);
    nlohmann::json result = {{"command", "train-ann"},
                             {"arch", a.zoo.arch},
                             {"dataset", a.data.name},
                             {"test_accuracy", r.test_accuracy},
                             {"epochs", r.epochs},
                             {"train_seconds", r.train_seconds},
                             {"peak_rss_mib", peak_rss_mib()},
                             {"stats_layers", layers},
                             {"model", a.train.out_dir},
                             {"history", nlohmann::json::parse(history_to_json(r.history))}};
    result.update(train_inputs_json(a, d, g));
    result["act"] = a.zoo.act;
    if (qcfs) {
        result["qcfs"] = meta_section(meta, "train")["qcfs"];
        result["qcfs"]["lambda_final"] = qcfs_lambdas(g); // after training
    }
    res.result_json = result.dump();
    res.model = std::move(g);
    return res;
}

} // namespace snnkit
