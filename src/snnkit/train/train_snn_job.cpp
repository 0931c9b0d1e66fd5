// snnkit/train/train_snn_job.cpp: train_snn (train_job.h): a zoo architecture with every ReLU replaced by a
// spiking neuron, direct input, BPTT with a surrogate gradient, optionally Dspike with its temperature adapted
// each epoch by finite-difference gradients (dspike_hook.h; Li et al., NeurIPS 2021).
#include "snnkit/train/train_job_internal.h"

#include "snnkit/core/error.h"
#include "snnkit/io/model_io.h"
#include "snnkit/train/dspike_hook.h"

#include <filesystem>
#include <memory>

namespace snnkit {

namespace {

// The neuron options from the named choices; the adaptation's settings from the training's.
void configure(train_snn_options & o) {
    auto & n = o.snn.neuron;
    if (o.neuron == "if") {
        n.alpha = 1.0;
    } else if (o.neuron == "lif") {
        n.alpha = o.alpha;
    } else {
        fail("--neuron " + o.neuron, "unknown neuron (known: lif, if)");
    }
    if (o.reset != "soft" && o.reset != "hard") {
        fail("--reset " + o.reset, "unknown reset (known: soft, hard)");
    }
    if (o.dropout_mask != "per-step" && o.dropout_mask != "shared") {
        fail("--dropout-mask " + o.dropout_mask, "unknown mode (known: per-step, shared)");
    }
    if (o.fdg_bn != "frozen" && o.fdg_bn != "batch") {
        fail("--fdg-bn " + o.fdg_bn, "unknown mode (known: frozen, batch)");
    }
    n.reset = o.reset == "soft" ? reset_mode::soft : reset_mode::hard;
    n.surrogate.kind = surrogate_from_string(o.surrogate);
    n.surrogate.param = o.surrogate_param;
    if (o.dspike_adapt) {
        if (n.surrogate.kind != surrogate_kind::dspike) {
            fail("--dspike-adapt", "needs --surrogate dspike");
        }
        n.surrogate.param = o.b0;
    }
    o.adapt.seed = o.job.train.seed;
    o.adapt.label_smoothing = o.job.train.label_smoothing;
    o.adapt.bn_batch_stats = o.fdg_bn == "batch";
}

// The neuron part of the metadata.
neuron_meta neuron_of(const train_snn_options & o, graph & g, double final_b) {
    const auto & n = o.snn.neuron;
    neuron_meta nm;
    nm.neuron = o.neuron;
    nm.alpha = n.alpha;
    nm.learn_alpha = o.snn.learn_alpha;
    for (const auto & kv : sync_learned_alpha(g)) { // PLIF: layer -> alpha after training
        if (!nm.learned_alpha) {
            nm.learned_alpha.emplace();
        }
        (*nm.learned_alpha)[kv.first] = kv.second;
    }
    nm.v_th = o.snn.v_th;
    nm.reset = o.reset;
    nm.detach_reset = n.detach_reset;
    nm.surrogate = o.surrogate;
    nm.surrogate_param = surrogate_param(n.surrogate);
    nm.dspike_adapt = o.dspike_adapt;
    if (o.dspike_adapt) {
        dspike_adapt_meta dm;
        dm.b0 = o.b0;
        dm.db = o.adapt.db;
        dm.eps = o.adapt.eps;
        dm.fdg_coords = o.adapt.coords;
        dm.fdg_bn = o.fdg_bn;
        nm.dspike_adapt_settings = dm;
    }
    nm.final_surrogate_param = o.dspike_adapt ? final_b : surrogate_param(n.surrogate);
    return nm;
}

} // namespace

train_job_result train_snn(const train_snn_options & options) {
    train_snn_options o = options;
    train_job_options & a = o.job;
    configure(o);
    const job_data d = prepare_job(a, "train-snn");
    train_job_result res;
    res.train_images = d.train.images.size(0);
    res.test_images = d.test.images.size(0);
    a.zoo.clip = 0.0;
    graph g = snn_from_ann(zoo_build(a.zoo), o.snn);
    if (!o.init.empty()) {
        snn_init_from(g, load_model(o.init), o.init);
        if (a.train.progress) {
            std::fprintf(stderr, "train-snn: weights from %s\n", o.init.c_str());
        }
    }
    const int64_t T = o.snn.T;
    resolve_eval_batch(a, g, d, T, 200);
    a.train.snn_T = T;
    train_hooks hooks;
    std::unique_ptr<dspike_epoch_hook> adapt;
    if (o.dspike_adapt) {
        adapt = std::make_unique<dspike_epoch_hook>(g, T, o.snn.neuron.surrogate.param, o.adapt, a.train.progress);
        add_dspike_hook(hooks, *adapt);
    }
    // The checkpoint keeps the model flags, the neuron settings, the dropout mode and Dspike's state; a resume
    // must continue the same run.
    const std::string ckpt = a.train.out_dir + "/checkpoint.safetensors";
    const auto & no = o.snn.neuron;
    const std::string neuron_text = o.neuron + ", alpha " + nlohmann::json(no.alpha).dump() +
                                    (o.snn.learn_alpha ? " (learned)" : "") + ", V_th " +
                                    nlohmann::json(o.snn.v_th).dump() + ", " + o.reset + " reset" +
                                    (no.detach_reset ? " (detached)" : "") + ", surrogate " + o.surrogate + " " +
                                    nlohmann::json(surrogate_param(no.surrogate)).dump();
    const std::string model_text = model_flags_text(a, g);
    // The init model, as an absolute path ("" for none; it exists: load_model read it above). The results
    // name it, and a resume takes it from the checkpoint and refuses another one.
    std::string init_path;
    if (!o.init.empty()) {
        std::error_code ec;
        const auto p = std::filesystem::weakly_canonical(o.init, ec);
        init_path = ec ? o.init : p.string();
    }
    hooks.save_state = [&]() {
        nlohmann::json j = {{"dropout_mask", o.dropout_mask}, {"neuron", neuron_text}, {"model", model_text},
                            {"init", init_path}};
        if (adapt) {
            j.update(nlohmann::json::parse(adapt->state_json()));
        }
        return j.dump();
    };
    hooks.load_state = [&](const std::string & s) {
        // Checkpoints from before --dropout-mask hold no state (or only Dspike's); they all used per-step masks.
        const nlohmann::json j = s.empty() ? nlohmann::json::object() : nlohmann::json::parse(s);
        const std::string mask = j.value("dropout_mask", std::string("per-step"));
        if (mask != o.dropout_mask) {
            fail(ckpt, "checkpoint was made with --dropout-mask " + mask + ", not " + o.dropout_mask);
        }
        if (j.contains("dspike_b") != o.dspike_adapt) {
            fail(ckpt, std::string("checkpoint was made ") + (o.dspike_adapt ? "without" : "with") +
                           " --dspike-adapt (resume with the same setting, or start a new --out)");
        }
        check_saved_setting(ckpt, "model settings", j.value("model", std::string()), model_text, // absent in older checkpoints
                            "resume with the same model flags, or start a new --out");
        check_saved_setting(ckpt, "neuron settings", j.value("neuron", std::string()), neuron_text, // absent in older checkpoints
                            "resume with the same --neuron/--alpha/--learn-alpha/--vth/--reset/--detach-reset/--surrogate/--surrogate-param/--b0");
        if (j.contains("init")) { // absent in older checkpoints
            const std::string init_was = j["init"].get<std::string>();
            if (!o.init.empty() && init_was != init_path) {
                fail(ckpt, "checkpoint was made with --init " + (init_was.empty() ? "(none)" : init_was) + ", not " +
                               init_path + "; resume without --init or with the same model");
            }
            init_path = init_was; // the checkpoint holds the weights; the results name where they started
        }
        if (adapt) {
            adapt->restore(s, ckpt);
        }
    };
    res.train = train_loop(g, snn_forward_fn(g, T, o.dropout_mask == "shared"), d.train, d.test, a.train, hooks);
    if (res.train.interrupted) {
        return res;
    }
    const train_result & r = res.train;
    res.dspike_b = adapt ? adapt->b() : 0.0;
    res.dspike_seconds = adapt ? adapt->seconds() : 0.0;

    const auto & pre = a.train.eval_preprocess;
    const double peak = peak_rss_mib();
    model_meta & meta = res.meta;
    meta.kind = "snn";
    meta.source = "train-snn";
    meta.dataset = a.data.name;
    meta.classes = d.train.class_names; // ImageFolder folders / CIFAR names (none for IDX): eval checks them
    meta.T = T;
    meta.mean = pre.mean;
    meta.std = pre.std;
    meta.neuron = neuron_of(o, g, res.dspike_b);
    meta.train = train_config(a, g);
    meta.dropout_mask = o.dropout_mask;
    meta.init = init_path;
    meta.metrics = metrics_meta{r.test_accuracy, r.train_seconds, r.epochs};
    meta.history = r.history;
    save_model(a.train.out_dir, g, meta);
    nlohmann::json result = {{"command", "train-snn"},
                             {"arch", a.zoo.arch},
                             {"dataset", a.data.name},
                             {"T", T},
                             {"neuron", meta_section(meta, "neuron")},
                             {"test_accuracy", r.test_accuracy},
                             {"epochs", r.epochs},
                             {"train_seconds", r.train_seconds},
                             {"dspike_adapt_seconds", res.dspike_seconds},
                             {"peak_rss_mib", peak},
                             {"init", init_path},
                             {"dropout_mask", o.dropout_mask},
                             {"model", a.train.out_dir},
                             {"history", nlohmann::json::parse(history_to_json(r.history))}};
    result.update(train_inputs_json(a, d, g));
    res.result_json = result.dump();
    res.model = std::move(g);
    return res;
}

} // namespace snnkit
