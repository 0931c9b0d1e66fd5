// src/cli/cmd_train_snn.cpp: `snnkit train-snn` trains an SNN directly: a zoo architecture with every ReLU
// replaced by a spiking neuron, direct input, BPTT with a surrogate gradient, optionally Dspike with its
// temperature adapted each epoch by finite-difference gradients (Li et al., NeurIPS 2021).
#include "commands.h"
#include "train_common.h"

#include "snnkit/core/error.h"
#include "snnkit/io/model_io.h"
#include "snnkit/train/dspike_adapt.h"
#include "snnkit/train/snn_model.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

namespace snnkit_cli {

namespace {

struct train_snn_args {
    train_cli common;
    snnkit::snn_model_options snn;
    std::string neuron = "lif", reset = "hard", surrogate = "atan";
    double alpha = 0.5;
    double surrogate_param = 0.0;
    bool dspike_adapt = false;
    double b0 = 3.0;
    snnkit::dspike_adapt_options adapt;
    std::string init; // --init: a saved model whose weights start the training (hybrid ANN -> SNN)
    std::string dropout_mask = "per-step"; // --dropout-mask: per-step | shared
    std::string fdg_bn = "frozen"; // --fdg-bn: frozen | batch (dspike_adapt_options::bn_batch_stats)
};

void configure_neuron(train_snn_args & a) {
    auto & n = a.snn.neuron;
    if (a.neuron == "if") {
        n.alpha = 1.0;
    } else if (a.neuron == "lif") {
        n.alpha = a.alpha;
    } else {
        snnkit::fail("--neuron " + a.neuron, "unknown neuron (known: lif, if)");
    }
    if (a.reset != "soft" && a.reset != "hard") {
        snnkit::fail("--reset " + a.reset, "unknown reset (known: soft, hard)");
    }
    n.reset = a.reset == "soft" ? snnkit::reset_mode::soft : snnkit::reset_mode::hard;
    n.surrogate.kind = snnkit::surrogate_from_string(a.surrogate);
    n.surrogate.param = a.surrogate_param;
    if (a.dspike_adapt) {
        if (n.surrogate.kind != snnkit::surrogate_kind::dspike) {
            snnkit::fail("--dspike-adapt", "needs --surrogate dspike");
        }
        n.surrogate.param = a.b0;
    }
}

// Flags that would change nothing are refused rather than silently ignored: the adaptation's settings without
// --dspike-adapt, --surrogate-param with it (the adaptation starts from --b0), --alpha with --neuron if.
void check_flag_effects(const train_snn_args & a, const CLI::App & s) {
    refuse_unused_flags(s, {"--b0", "--db", "--eps", "--fdg-coords", "--fdg-bn", "--fdg-copies"}, a.dspike_adapt,
                        "has an effect only with --dspike-adapt");
    refuse_unused_flags(s, {"--surrogate-param"}, !a.dspike_adapt,
                        "with --dspike-adapt the temperature starts at --b0; give that instead");
    refuse_unused_flags(s, {"--alpha"}, a.neuron != "if", "--neuron if has no leak (alpha = 1); use --neuron lif to set one");
    refuse_unused_flags(s, {"--learn-alpha"}, a.neuron != "if", "--neuron if has no leak to learn; use --neuron lif");
}

void print_dspike_table(std::FILE * out, const nlohmann::json & hist) {
    std::fprintf(out, "\n%-6s %8s %28s %30s %10s\n", "epoch", "b", "candidates (b-db, b, b+db)", "cosine to FDG",
                "FDG s");
    for (const auto & e : hist) {
        if (!e.contains("dspike")) {
            continue;
        }
        const auto & d = e["dspike"];
        const auto num = [](const nlohmann::json & v) { return v.is_number() ? v.get<double>() : NAN; }; // NaN -> null
        std::fprintf(out, "%-6d %8.3f %8.3f %9.3f %9.3f   %9.4f %9.4f %9.4f %10.1f\n", e["epoch"].get<int>(),
                    num(d["b"]), num(d["candidates"][0]), num(d["candidates"][1]), num(d["candidates"][2]),
                    num(d["cosine"][0]), num(d["cosine"][1]), num(d["cosine"][2]), num(d["fdg_seconds"]));
    }
}

void run(train_snn_args & args) {
    train_cli & a = args.common;
    configure_neuron(args);
    args.adapt.seed = a.train.seed;
    args.adapt.label_smoothing = a.train.label_smoothing;
    args.adapt.bn_batch_stats = args.fdg_bn == "batch";
    const train_data d = prepare_training(a, "train-snn");
    a.zoo.clip = 0.0;
    snnkit::graph g = snnkit::snn_from_ann(snnkit::zoo_build(a.zoo), args.snn);
    if (!args.init.empty()) {
        snnkit::snn_init_from(g, snnkit::load_model(args.init), args.init);
        if (!a.quiet) {
            std::fprintf(stderr, "train-snn: weights from %s\n", args.init.c_str());
        }
    }
    const int64_t T = args.snn.T;
    resolve_eval_batch(a, g, d, T, 200);
    a.train.snn_T = T;
    snnkit::train_hooks hooks;
    double b = args.snn.neuron.surrogate.param;
    double adapt_seconds = 0;
    if (args.dspike_adapt) {
        hooks.on_epoch = [&](int epoch, const at::Tensor & x, const at::Tensor & y) {
            const snnkit::dspike_epoch_report r = snnkit::dspike_adapt(g, T, x, y, b, args.adapt, epoch);
            b = r.b;
            adapt_seconds += r.fdg_seconds + r.bptt_seconds;
            if (!a.quiet) {
                std::fprintf(stderr,
                             "dspike epoch %d: cosine %.4f / %.4f / %.4f at b = %.3f / %.3f / %.3f -> b = %.3f "
                             "(FDG over %lld weights %.1f s, BPTT %.1f s)\n",
                             epoch + 1, r.cosine[0], r.cosine[1], r.cosine[2], r.candidates[0], r.candidates[1],
                             r.candidates[2], r.b, static_cast<long long>(r.coords), r.fdg_seconds, r.bptt_seconds);
            }
            return "{\"dspike\":" + r.to_json() + "}";
        };
    }
    // The checkpoint keeps the model flags, the neuron settings, the dropout mode and Dspike's state; a resume
    // must continue the same run.
    const std::string ckpt = a.train.out_dir + "/checkpoint.safetensors";
    const auto & no = args.snn.neuron;
    const std::string neuron_text = args.neuron + ", alpha " + nlohmann::json(no.alpha).dump() +
                                    (args.snn.learn_alpha ? " (learned)" : "") + ", V_th " +
                                    nlohmann::json(args.snn.v_th).dump() + ", " + args.reset + " reset" +
                                    (no.detach_reset ? " (detached)" : "") + ", surrogate " + args.surrogate + " " +
                                    nlohmann::json(snnkit::surrogate_param(no.surrogate)).dump();
    const std::string model_text = model_flags_text(a, g);
    // The adaptation's method settings (--fdg-copies and --threads change only its speed, so they may change).
    const std::string adapt_text = "db " + nlohmann::json(args.adapt.db).dump() + ", eps " +
                                   nlohmann::json(args.adapt.eps).dump() + ", fdg coords " +
                                   std::to_string(args.adapt.coords) +
                                   (args.adapt.bn_batch_stats ? ", fdg bn batch" : ""); // as before --fdg-bn
    // The --init model, as an absolute path ("" for none; it exists: load_model read it above). The results
    // name it, and a resume takes it from the checkpoint and refuses another one.
    std::string init_path;
    if (!args.init.empty()) {
        std::error_code ec;
        const auto p = std::filesystem::weakly_canonical(args.init, ec);
        init_path = ec ? args.init : p.string();
    }
    hooks.save_state = [&]() {
        nlohmann::json j = {{"dropout_mask", args.dropout_mask}, {"neuron", neuron_text}, {"model", model_text},
                            {"init", init_path}};
        if (args.dspike_adapt) {
            j["dspike_b"] = b;
            j["adapt_seconds"] = adapt_seconds;
            j["dspike_adapt"] = adapt_text;
        }
        return j.dump();
    };
    hooks.load_state = [&](const std::string & s) {
        // Checkpoints from before --dropout-mask hold no state (or only Dspike's); they all used per-step masks.
        const nlohmann::json j = s.empty() ? nlohmann::json::object() : nlohmann::json::parse(s);
        const std::string mask = j.value("dropout_mask", std::string("per-step"));
        if (mask != args.dropout_mask) {
            snnkit::fail(ckpt, "checkpoint was made with --dropout-mask " + mask + ", not " + args.dropout_mask);
        }
        if (j.contains("dspike_b") != args.dspike_adapt) {
            snnkit::fail(ckpt, std::string("checkpoint was made ") + (args.dspike_adapt ? "without" : "with") +
                                   " --dspike-adapt (resume with the same setting, or start a new --out)");
        }
        check_model_flags(ckpt, j.value("model", std::string()), model_text); // absent in older checkpoints
        check_saved_setting(ckpt, "neuron settings", j.value("neuron", std::string()), neuron_text, // absent in older checkpoints
                            "resume with the same --neuron/--alpha/--learn-alpha/--vth/--reset/--detach-reset/--surrogate/--surrogate-param/--b0");
        if (j.contains("init")) { // absent in older checkpoints
            const std::string init_was = j["init"].get<std::string>();
            if (!args.init.empty() && init_was != init_path) {
                snnkit::fail(ckpt, "checkpoint was made with --init " + (init_was.empty() ? "(none)" : init_was) +
                                       ", not " + init_path + "; resume without --init or with the same model");
            }
            init_path = init_was; // the checkpoint holds the weights; the results name where they started
        }
        if (args.dspike_adapt) { // absent in older checkpoints
            check_saved_setting(ckpt, "Dspike adaptation settings", j.value("dspike_adapt", std::string()), adapt_text,
                                "resume with the same --db/--eps/--fdg-coords/--fdg-bn");
        }
        if (args.dspike_adapt) {
            b = j.at("dspike_b").get<double>();
            adapt_seconds = j.value("adapt_seconds", 0.0); // the runs before this resume (absent in old checkpoints)
            snnkit::set_surrogate_param(g, b);
        }
    };
    const snnkit::train_result r =
        snnkit::train_loop(g, snnkit::snn_forward_fn(g, T, args.dropout_mask == "shared"), d.train, d.test, a.train, hooks);
    if (r.interrupted) {
        snnkit::fail("train-snn", "training stopped before the end; resume with --resume");
    }

    const nlohmann::json hist = nlohmann::json::parse(snnkit::history_to_json(r.history));
    const auto & n = args.snn.neuron;
    snnkit::neuron_meta nm;
    nm.neuron = args.neuron;
    nm.alpha = n.alpha;
    nm.learn_alpha = args.snn.learn_alpha;
    for (const auto & kv : snnkit::sync_learned_alpha(g)) { // PLIF: layer -> alpha after training
        if (!nm.learned_alpha) {
            nm.learned_alpha.emplace();
        }
        (*nm.learned_alpha)[kv.first] = kv.second;
    }
    nm.v_th = args.snn.v_th;
    nm.reset = args.reset;
    nm.detach_reset = n.detach_reset;
    nm.surrogate = args.surrogate;
    nm.surrogate_param = snnkit::surrogate_param(n.surrogate);
    nm.dspike_adapt = args.dspike_adapt;
    if (args.dspike_adapt) {
        snnkit::dspike_adapt_meta dm;
        dm.b0 = args.b0;
        dm.db = args.adapt.db;
        dm.eps = args.adapt.eps;
        dm.fdg_coords = args.adapt.coords;
        dm.fdg_bn = args.fdg_bn;
        nm.dspike_adapt_settings = dm;
    }
    nm.final_surrogate_param = args.dspike_adapt ? b : snnkit::surrogate_param(n.surrogate);
    const auto & pre = a.train.eval_preprocess;
    const double peak = peak_rss_mib();
    snnkit::model_meta meta;
    meta.kind = "snn";
    meta.source = "train-snn";
    meta.dataset = a.data.name;
    meta.classes = d.train.class_names; // ImageFolder folders / CIFAR names (none for IDX): eval checks them
    meta.T = T;
    meta.mean = pre.mean;
    meta.std = pre.std;
    meta.neuron = nm;
    meta.train = train_config(a, g);
    meta.dropout_mask = args.dropout_mask;
    meta.init = init_path;
    meta.metrics = snnkit::metrics_meta{r.test_accuracy, r.train_seconds, r.epochs};
    meta.history = r.history;
    snnkit::save_model(a.train.out_dir, g, meta);
    const nlohmann::json neuron = meta_json(meta)["neuron"];
    nlohmann::json result = {{"command", "train-snn"},
                             {"arch", a.zoo.arch},
                             {"dataset", a.data.name},
                             {"T", T},
                             {"neuron", neuron},
                             {"test_accuracy", r.test_accuracy},
                             {"epochs", r.epochs},
                             {"train_seconds", r.train_seconds},
                             {"dspike_adapt_seconds", adapt_seconds},
                             {"peak_rss_mib", peak},
                             {"init", init_path},
                             {"dropout_mask", args.dropout_mask},
                             {"model", a.train.out_dir},
                             {"history", hist}};
    result.update(train_inputs_json(a, d, g));
    write_json_file(a.json_path, result, train_data_used(a, d));
    if (args.dspike_adapt && !a.quiet) {
        print_dspike_table(human_out(a.json_path), hist);
    }
    std::fprintf(human_out(a.json_path), "test_accuracy %.2f %%  T %lld  epochs %d  train_seconds %.1f  peak_rss_mib %.0f  model %s\n",
                r.test_accuracy, static_cast<long long>(T), r.epochs, r.train_seconds, peak, a.train.out_dir.c_str());
}

void add_train_snn(CLI::App & app) {
    auto a = std::make_shared<train_snn_args>();
    CLI::App * s = app.add_subcommand(
        "train-snn", "Train an SNN directly: surrogate-gradient BPTT, optional Dspike temperature adaptation");
    // An SNN's test pass holds eval batch x T images per layer: 1000 images peaked at 6.5 GB on cnn-plif at T = 4,
    // 200 at 2.1 GB, with the same accuracy. Auto (0) takes at most 200, fewer for wide nets at large T.
    a->common.train.eval_batch_size = 0;
    add_train_flags(s, a->common);
    s->add_option("--T", a->snn.T, "Time steps")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--init", a->init,
                  "Start from the weights of a saved model of the same --arch (a train-ann ANN: hybrid training)");
    s->add_option("--neuron", a->neuron, "lif | if (if: alpha = 1)")->capture_default_str();
    s->add_option("--alpha", a->alpha, "LIF leak factor alpha in v = alpha v + I (lif only)")->capture_default_str();
    s->add_flag("--learn-alpha", a->snn.learn_alpha,
                "PLIF: each spiking layer learns its own alpha (starting at --alpha; lif only); the result JSON "
                "lists the learned values");
    s->add_option("--vth", a->snn.v_th, "Firing threshold V_th")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--reset", a->reset, "soft (subtract V_th) | hard (to zero)")->capture_default_str();
    s->add_option("--dropout-mask", a->dropout_mask,
                  "per-step (a new dropout mask at every time step) | shared (one mask for all T steps, as "
                  "SpikingJelly / PLIF)")
        ->check(CLI::IsMember({"per-step", "shared"}))
        ->capture_default_str();
    s->add_flag("--detach-reset", a->snn.neuron.detach_reset, "No gradient through the reset");
    s->add_option("--surrogate", a->surrogate, "rect | triangle | exp | sigmoid | atan | dspike")
        ->capture_default_str();
    s->add_option("--surrogate-param", a->surrogate_param,
                  "Surrogate width / sharpness / Dspike b (0 = the surrogate's default; with --dspike-adapt use --b0)")->check(snnkit_cli::non_negative());
    s->add_flag("--dspike-adapt", a->dspike_adapt, "Adapt Dspike's temperature b each epoch by FDG cosine");
    s->add_option("--b0", a->b0, "Dspike adaptation: initial temperature b")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--db", a->adapt.db, "Dspike adaptation: candidate step (b - db, b, b + db)")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--eps", a->adapt.eps, "Dspike adaptation: finite-difference step")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--fdg-coords", a->adapt.coords,
                  "Dspike adaptation: first-layer weights in the FDG (0 = all up to 1024, else 1024 random)")->check(snnkit_cli::non_negative())
        ->capture_default_str();
    s->add_option("--fdg-bn", a->fdg_bn,
                  "Dspike adaptation: BatchNorm in the compared loss: frozen (the batch's statistics at the current "
                  "weights, held fixed; copies run stacked) | batch (recomputed for every perturbed copy, exactly "
                  "the training loss)")
        ->check(CLI::IsMember({"frozen", "batch"}))
        ->capture_default_str();
    s->add_option("--fdg-copies", a->adapt.copies, "Dspike adaptation: perturbed copies per batched forward")->check(snnkit_cli::positive())
        ->capture_default_str();
    s->callback([a, s]() {
        check_flag_effects(*a, *s);
        run(*a);
    });
}

const command_registration reg(20, "train-snn", add_train_snn);

} // namespace

} // namespace snnkit_cli
