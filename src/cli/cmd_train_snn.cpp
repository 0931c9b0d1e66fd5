// src/cli/cmd_train_snn.cpp: `snnkit train-snn` trains an SNN directly: a zoo architecture with every ReLU
// replaced by a spiking neuron, direct input, BPTT with a surrogate gradient, optionally Dspike with its
// temperature adapted each epoch by finite-difference gradients (Li et al., NeurIPS 2021): flags ->
// snnkit::train_snn (snnkit/train/train_job.h).
#include "commands.h"
#include "train_common.h"

#include <cmath>
#include <cstdio>
#include <memory>

namespace snnkit_cli {

namespace {

struct train_snn_args {
    train_cli common;
    /// the neuron, T, Dspike adaptation, --init, --dropout-mask (its job options come from `common`)
    snnkit::train_snn_options snn;
};

// Flags that would change nothing are refused rather than silently ignored: the adaptation's settings without
// --dspike-adapt, --surrogate-param with it (the adaptation starts from --b0), --alpha with --neuron if.
void check_flag_effects(const snnkit::train_snn_options & a, const CLI::App & s) {
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
    const train_cli & a = args.common;
    snnkit::train_snn_options o = args.snn;
    o.job = job_options(a);
    const snnkit::train_job_result r = snnkit::train_snn(o);
    finish_training(a, r, "train-snn");
    const nlohmann::json result = nlohmann::json::parse(r.result_json);
    if (o.dspike_adapt && !a.quiet) {
        print_dspike_table(human_out(a.json_path), result["history"]);
    }
    std::fprintf(human_out(a.json_path), "test_accuracy %.2f %%  T %lld  epochs %d  train_seconds %.1f  peak_rss_mib %.0f  model %s\n",
                 r.train.test_accuracy, static_cast<long long>(o.snn.T), r.train.epochs, r.train.train_seconds,
                 result["peak_rss_mib"].get<double>(), a.train.out_dir.c_str());
}

void add_train_snn(CLI::App & app) {
    auto a = std::make_shared<train_snn_args>();
    CLI::App * s = app.add_subcommand(
        "train-snn", "Train an SNN directly: surrogate-gradient BPTT, optional Dspike temperature adaptation");
    // An SNN's test pass holds eval batch x T images per layer: 1000 images peaked at 6.5 GB on cnn-plif at T = 4,
    // 200 at 2.1 GB, with the same accuracy. Auto (0) takes at most 200, fewer for wide nets at large T.
    a->common.train.eval_batch_size = 0;
    add_train_flags(s, a->common);
    s->add_option("--T", a->snn.snn.T, "Time steps")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--init", a->snn.init,
                  "Start from the weights of a saved model of the same --arch (a train-ann ANN: hybrid training)");
    s->add_option("--neuron", a->snn.neuron, "lif | if (if: alpha = 1)")->capture_default_str();
    s->add_option("--alpha", a->snn.alpha, "LIF leak factor alpha in v = alpha v + I (lif only)")->capture_default_str();
    s->add_flag("--learn-alpha", a->snn.snn.learn_alpha,
                "PLIF: each spiking layer learns its own alpha (starting at --alpha; lif only); the result JSON "
                "lists the learned values");
    s->add_option("--vth", a->snn.snn.v_th, "Firing threshold V_th")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--reset", a->snn.reset, "soft (subtract V_th) | hard (to zero)")->capture_default_str();
    s->add_option("--dropout-mask", a->snn.dropout_mask,
                  "per-step (a new dropout mask at every time step) | shared (one mask for all T steps, as "
                  "SpikingJelly / PLIF)")
        ->check(CLI::IsMember({"per-step", "shared"}))
        ->capture_default_str();
    s->add_flag("--detach-reset", a->snn.snn.neuron.detach_reset, "No gradient through the reset");
    s->add_option("--surrogate", a->snn.surrogate, "rect | triangle | exp | sigmoid | atan | dspike")
        ->capture_default_str();
    s->add_option("--surrogate-param", a->snn.surrogate_param,
                  "Surrogate width / sharpness / Dspike b (0 = the surrogate's default; with --dspike-adapt use --b0)")->check(snnkit_cli::non_negative());
    s->add_flag("--dspike-adapt", a->snn.dspike_adapt, "Adapt Dspike's temperature b each epoch by FDG cosine");
    s->add_option("--b0", a->snn.b0, "Dspike adaptation: initial temperature b")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--db", a->snn.adapt.db, "Dspike adaptation: candidate step (b - db, b, b + db)")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--eps", a->snn.adapt.eps, "Dspike adaptation: finite-difference step")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--fdg-coords", a->snn.adapt.coords,
                  "Dspike adaptation: first-layer weights in the FDG (0 = all up to 1024, else 1024 random)")->check(snnkit_cli::non_negative())
        ->capture_default_str();
    s->add_option("--fdg-bn", a->snn.fdg_bn,
                  "Dspike adaptation: BatchNorm in the compared loss: frozen (the batch's statistics at the current "
                  "weights, held fixed; copies run stacked) | batch (recomputed for every perturbed copy, exactly "
                  "the training loss)")
        ->check(CLI::IsMember({"frozen", "batch"}))
        ->capture_default_str();
    s->add_option("--fdg-copies", a->snn.adapt.copies, "Dspike adaptation: perturbed copies per batched forward")->check(snnkit_cli::positive())
        ->capture_default_str();
    s->callback([a, s]() {
        check_flag_effects(a->snn, *s);
        run(*a);
    });
}

const command_registration reg(20, "train-snn", add_train_snn);

} // namespace

} // namespace snnkit_cli
