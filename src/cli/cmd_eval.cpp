// src/cli/cmd_eval.cpp: `snnkit eval` measures an SNN (converted or trained) over T steps in one
// simulation: accuracy at every t <= T, the ANN's accuracy beside it, per-layer conversion error and
// firing rate; with --stats also the synaptic operations, ANN MACs and energy per layer (snnkit/stats,
// collected by an observer of the same run). An ANN model is evaluated as an ANN.
#include "commands.h"

#include "snnkit/convert/calibrate.h"
#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"
#include "snnkit/data/dataset_by_name.h"
#include "snnkit/io/model_io.h"
#include "snnkit/nn/snn_chunk.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/spike_conv_bf16.h"
#include "snnkit/stats/measure.h"
#include "snnkit/stats/stats_json.h"
#include "snnkit/train/trainer.h"

#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <utility>

namespace snnkit_cli {

namespace {

struct eval_args {
    std::string model, dataset, data, json_path, ann, encoding = "direct";
    int64_t T = -1, batch = 0, limit = 0, error_samples = 256; // batch 0: auto
    int64_t memory_mib = snnkit::snn_default_memory_budget >> 20;
    int threads = 0;
    bool quiet = false;
    bool stats = false;                  // --stats: SOPs, MACs and energy from the same run
    bool sparse = false;                 // --sparse: event-driven conv / linear layers where the input is sparse
    bool spike_bf16 = false;             // --spike-bf16: spike-fed convolutions on AMX-BF16 (split weights)
    bool whole_batch = false;            // --whole-batch: no groups of images within a batch (snn_options::chunk)
    bool spike_int8 = false;             // --spike-int8: the AMX path's int8 scheme on wide layers
    int spike_bf16_parts = 3;            // --spike-bf16-parts: bfloat16 parts per weight (3 = float-equal)
    snnkit::stats_options stats_opt;     // their constants and conventions
};

void run(eval_args & a) {
    set_threads(a.threads, snnkit::runtime_memory::bounded);
    std::FILE * const out = human_out(a.json_path); // tables: stderr when the JSON goes to stdout
    snnkit::model_meta meta;
    const snnkit::graph g = snnkit::load_model(a.model, &meta);
    const std::string ds = !a.dataset.empty() ? a.dataset : meta.dataset.empty() ? "fmnist" : meta.dataset;
    const snnkit::dataset test = snnkit::load_test_set(ds, a.data, a.limit);
    snnkit::check_model_classes(meta, test, a.model + " vs " + (a.data.empty() ? ds : a.data));
    const snnkit::augment_options pre = snnkit::model_preprocess(meta, ds);
    if (a.T < 0) { // not given
        a.T = snnkit::model_time_steps(meta, 32);
    }
    if (meta.conversion) {
        // The bias shift V_th/(2T), the potential correction v(0) = T e and the calibrated thresholds, biases
        // and weights were all fitted for one T.
        const snnkit::conversion_meta & c = *meta.conversion;
        const int64_t ct = c.T;
        std::string fitted;
        for (const auto & kv : {std::make_pair(c.bias_shift, "bias shift"),
                                std::make_pair(c.threshold_search, "threshold search"),
                                std::make_pair(c.bias_correction, "bias correction"),
                                std::make_pair(c.potential_correction, "potential correction"),
                                std::make_pair(c.weight_calibration, "weight calibration")}) {
            if (kv.first) {
                fitted += (fitted.empty() ? "" : ", ") + std::string(kv.second);
            }
        }
        if (!fitted.empty() && ct > 0 && ct != a.T && !a.quiet) {
            std::fprintf(stderr, "note: %s was converted for T = %lld (its %s assume it); evaluating at T = %lld\n",
                         a.model.c_str(), static_cast<long long>(ct), fitted.c_str(), static_cast<long long>(a.T));
        }
    }
    const int64_t n = test.images.size(0);
    nlohmann::json result = {{"command", "eval"}, {"model", a.model}, {"dataset", ds}, {"samples", n}};
    bool is_snn = false;
    for (const auto & nd : g.nodes) {
        is_snn |= nd.op == snnkit::op_kind::spike;
    }
    // 0 = auto: at most 200 images, fewer where (for an SNN: T x) batch would exceed 1 GiB per activation tensor
    a.batch = snnkit::snn_run_batch(g, test, pre, is_snn ? a.T : 1, a.batch, 200, a.memory_mib << 20);
    result["batch_size"] = a.batch;
    if (!is_snn) {
        const double acc = snnkit::evaluate_accuracy(snnkit::ann_forward_fn(g), test, pre, a.batch, !a.quiet);
        result["kind"] = "ann";
        result["accuracy"] = acc;
        const snnkit::network_stats st = snnkit::ann_stats(g, a.stats_opt.energy); // MACs: no simulation needed
        if (a.stats) {
            result["stats"] = nlohmann::json::parse(snnkit::stats_to_json(st));
        }
        write_json_file(a.json_path, result, {{ds, a.data, "test", n}});
        std::fprintf(out, "ANN accuracy %.2f %% on %lld images\n", acc, static_cast<long long>(n));
        if (a.stats) {
            std::fprintf(out, "\n%s", snnkit::stats_table(st).c_str());
        }
        return;
    }

    // One simulation of T steps gives the accuracy at every t; the stats collector's spike counts give the
    // firing rates (and, with --stats, the operations).
    at::NoGradGuard ng;
    snnkit::set_input_encoding(a.stats_opt, a.encoding, pre);
    snnkit::stats_collector collector(g, a.T, a.stats_opt);
    // The source ANN (for its accuracy on the same images and the per-layer conversion error): the run also
    // keeps each spiking layer's rate over the first --error-samples images, so the error needs no second run.
    const std::string ann_dir = !a.ann.empty() ? a.ann : meta.source_model;
    const bool with_ann = !ann_dir.empty() && std::filesystem::exists(ann_dir + "/model.json");
    if (!a.ann.empty() && !with_ann) {
        snnkit::fail("--ann " + a.ann, "no model.json there (the ANN to compare against)");
    }
    if (!ann_dir.empty() && !with_ann && !a.quiet) {
        std::fprintf(stderr, "note: the source ANN recorded in %s (%s) is gone: no ANN accuracy or per-layer error\n",
                     a.model.c_str(), ann_dir.c_str());
    }
    // The ANN is read (and its layers matched to the SNN's) before the simulation, so a wrong --ann fails at once.
    snnkit::graph ann;
    if (with_ann) {
        ann = snnkit::ann_reference(snnkit::load_model(ann_dir));
        for (const auto & nd : g.nodes) {
            if (nd.op == snnkit::op_kind::spike) {
                try {
                    ann.find(nd.name);
                } catch (const snnkit::error &) {
                    snnkit::fail(ann_dir, "has no layer '" + nd.name + "' of the SNN (not the ANN it was made from?)");
                }
            }
        }
    }
    const int64_t m = std::min(a.error_samples, n);
    std::map<int, std::vector<at::Tensor>> rate_parts;
    std::map<int, int64_t> rate_seen;
    const snnkit::node_observer count = collector.observer();
    snnkit::snn_run_options ro;
    ro.T = a.T;
    ro.batch = a.batch;
    ro.encoding = a.encoding;
    ro.progress = !a.quiet;
    ro.sparse = a.sparse;
    ro.spike_bf16 = a.spike_bf16 || a.spike_int8;
    ro.spike_int8 = a.spike_int8;
    ro.chunk = a.whole_batch ? -1 : 0;
    ro.spike_bf16_parts = a.spike_bf16_parts;
    ro.observer = [&](int i, const snnkit::node & nd, const at::Tensor & o) { // o: [T, B, ...]
        count(i, nd, o);
        if (with_ann && nd.op == snnkit::op_kind::spike) {
            int64_t & seen = rate_seen[i];
            const int64_t take = std::min(o.size(1), m - seen);
            if (take > 0) {
                rate_parts[i].push_back(o.slice(1, 0, take).mean(0));
            }
            seen += o.size(1);
        }
    };
    const auto sim_start = snnkit::clock_now();
    const at::Tensor correct = snnkit::run_snn_on_dataset(g, test, pre, ro);
    const double sim_seconds = snnkit::seconds_since(sim_start);
    std::vector<double> acc_t(a.T);
    for (int64_t t = 0; t < a.T; ++t) {
        acc_t[t] = 100.0 * static_cast<double>(correct[t].item<int64_t>()) / static_cast<double>(n);
    }
    result["kind"] = meta.kind.empty() ? "snn" : meta.kind;
    result["T"] = a.T;
    result["encoding"] = a.encoding;
    result["accuracy"] = acc_t.back();
    result["accuracy_per_t"] = acc_t;
    // the simulation's throughput (with the observers of the error and, with --stats, the operation counts)
    result["simulation_seconds"] = sim_seconds;
    result["images_per_second"] = sim_seconds > 0 ? static_cast<double>(n) / sim_seconds : 0.0;
    result["sparse_layers"] = a.sparse;
    result["spike_bf16"] = (a.spike_bf16 || a.spike_int8) && snnkit::spike_conv_bf16_available(); // asked for and run
    result["spike_int8"] = a.spike_int8 && snnkit::spike_conv_bf16_available();
    // images simulated at once within a batch of batch_size (groups where the network is bound by memory traffic)
    result["images_per_group"] = a.whole_batch ? a.batch : snnkit::snn_chunk_images(snnkit::snn_profile_of(g), a.T, a.batch);
    result["spike_bf16_parts"] = a.spike_bf16_parts;
    result["conversion"] = meta_json(meta).value("conversion", nlohmann::json::object());
    nlohmann::json layers = nlohmann::json::array();
    const snnkit::network_stats st = collector.result();
    for (const snnkit::neuron_stats & ns : st.neurons) {
        if (!(a.stats_opt.input_events && ns.name == g.nodes[0].name)) { // spike nodes only
            layers.push_back({{"layer", ns.name}, {"firing_rate", ns.firing_rate}});
        }
    }

    if (with_ann) {
        result["ann_accuracy"] = snnkit::evaluate_accuracy(snnkit::ann_forward_fn(ann), test, pre, a.batch);
        const at::Tensor x = snnkit::make_batch(test.images, at::arange(0, m, at::kLong), pre, 0);
        std::map<int, at::Tensor> rates;
        for (auto & kv : rate_parts) {
            rates[kv.first] = at::cat(kv.second);
        }
        const auto errs = snnkit::layer_errors_from_rates(g, ann, x, rates, a.batch);
        for (size_t k = 0; k < errs.size() && k < layers.size(); ++k) {
            layers[k]["conversion_mse"] = errs[k].second;
        }
    }
    result["layers"] = layers;
    if (a.stats) {
        result["stats"] = nlohmann::json::parse(snnkit::stats_to_json(st));
    }
    write_json_file(a.json_path, result, {{ds, a.data, "test", n}});

    std::fprintf(out, "%-6s %s\n", "t", "accuracy %");
    for (int64_t t = 1; t <= a.T; t *= 2) {
        std::fprintf(out, "%-6lld %.2f\n", static_cast<long long>(t), acc_t[t - 1]);
    }
    if ((a.T & (a.T - 1)) != 0) {
        std::fprintf(out, "%-6lld %.2f\n", static_cast<long long>(a.T), acc_t.back());
    }
    if (result.contains("ann_accuracy")) {
        std::fprintf(out, "ANN    %.2f\n", result["ann_accuracy"].get<double>());
    }
    std::fprintf(out, "\n%-24s %12s %16s\n", "layer", "firing rate", "conversion MSE");
    for (const auto & l : layers) {
        std::fprintf(out, "%-24s %12.4f %16s\n", l["layer"].get<std::string>().c_str(), l["firing_rate"].get<double>(),
                    l.contains("conversion_mse") ? std::to_string(l["conversion_mse"].get<double>()).c_str() : "-");
    }
    if (a.stats) {
        std::fprintf(out, "\n%s", snnkit::stats_table(st).c_str());
    }
}

} // namespace

namespace {

void add_eval(CLI::App & app) {
    auto a = std::make_shared<eval_args>();
    CLI::App * s = app.add_subcommand("eval", "Evaluate a model: SNN accuracy at every t <= T, firing rates, errors");
    s->add_option("--model", a->model, "Model directory (SNN or ANN)")->required();
    s->add_option("--T", a->T, "Time steps (default: the model's own T, from conversion or training)")->check(snnkit_cli::positive());
    s->add_option("--encoding", a->encoding, "direct | poisson")->capture_default_str();
    s->add_option("--dataset", a->dataset, "Dataset (default: the model's)");
    s->add_option("--data", a->data, "Dataset directory");
    s->add_option("--ann", a->ann, "Source ANN for accuracy and per-layer error (default: the one recorded)");
    s->add_option("--batch-size", a->batch,
                  "Images per simulated batch (0 = auto: 200, fewer where T x batch would exceed --memory-budget / 8 per activation tensor)")
        ->check(snnkit_cli::non_negative())
        ->capture_default_str();
    snnkit_cli::add_memory_budget_option(s, a->memory_mib);
    s->add_option("--limit", a->limit, "Evaluate only the first N test images (0 = all)")->check(snnkit_cli::non_negative());
    s->add_option("--error-samples", a->error_samples, "Test images for the per-layer error")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--json", a->json_path, "Write results as JSON ('-' = stdout)");
    s->add_option("--threads", a->threads, "Intra-op threads (0 = all cores)")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--quiet", a->quiet, "No progress output");
    s->add_flag("--spike-bf16", a->spike_bf16,
                "Run each convolution fed by spikes (straight or through an average pool) on the CPU's AMX-BF16 units "
                "with its weights split into three bfloat16 parts (same results up to float rounding; bench_snn_infer "
                "measures the speed); ignored on a CPU without AMX-BF16 or a build without oneDNN (libdnnl-dev)");
    s->add_option("--spike-bf16-parts", a->spike_bf16_parts,
                  "With --spike-bf16: bfloat16 parts per weight. 3 keeps every bit of the float weight; 2 and 1 round "
                  "it to 16 and 8 significant bits (fewer multiply-adds, approximate results: compare the accuracy)")
        ->check(CLI::Range(1, 3))
        ->capture_default_str();
    s->add_flag("--spike-int8", a->spike_int8,
                "--spike-bf16 with the int8 scheme on layers of 128 or more input channels: three int8 weight parts "
                "per output channel, exact integer sums (the float result up to float sums; faster on wide layers)");
    s->add_flag("--whole-batch", a->whole_batch,
                "Simulate each batch's images all at once (by default a network bound by memory traffic, few channels "
                "as ResNet-20's, runs in groups of images, the whole network deep, so that its tensors stay in the "
                "CPU's caches: the same results, faster)");
    s->add_flag("--sparse", a->sparse,
                "Run layers event-driven: convolutions of a spike layer's output on bit-packed spikes (by table lookup for narrow layers, else by summing the weight rows of active inputs below the crossover rate; behind a 2 x 2 or other side-by-side average pool, from the windows' spikes without forming the pooled map), other conv / linear layers by scattering nonzero inputs below theirs (bench_sparse's crossovers; the float result up to the order of float sums). The fast path on CPUs without AMX");
    s->add_flag("--stats", a->stats, "Also SOPs, ANN MACs and energy per layer, from the same run (see `snnkit stats`)");
    s->add_option("--e-ac", a->stats_opt.energy.e_ac_pj, "With --stats: pJ per accumulate")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_option("--e-mac", a->stats_opt.energy.e_mac_pj, "With --stats: pJ per multiply-accumulate")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--static-per-step", [a](int64_t) { a->stats_opt.static_once = false; },
                "With --stats: count the analog layers before the first spike node T times");
    s->callback([a, s]() {
        if (a->T == 0 || a->T < -1) {
            snnkit::fail("--T", "must be at least 1");
        }
        refuse_unused_flags(*s, {"--e-ac", "--e-mac", "--static-per-step"}, a->stats, "has an effect only with --stats");
        run(*a);
    });
}

const command_registration reg(40, "eval", add_eval);

} // namespace

} // namespace snnkit_cli
