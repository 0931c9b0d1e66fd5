// src/cli/cmd_stats.cpp: `snnkit stats` measures what an SNN spends: per layer its firing rate, synaptic
// operations (SOPs), the ANN's multiply-accumulates (MACs) for the same layer and an energy estimate.
// Works for converted and directly trained SNNs; for an ANN (a model or a zoo architecture) it counts
// the MACs only.
#include "commands.h"

#include "snnkit/core/error.h"
#include "snnkit/io/model_io.h"
#include "snnkit/nn/zoo.h"
#include "snnkit/stats/measure.h"
#include "snnkit/stats/stats_json.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <sstream>

namespace snnkit_cli {

namespace {

struct stats_args {
    std::string model, arch, input = "3x32x32", dataset, data, json_path, encoding = "direct";
    int64_t T = 0, batch = 0, limit = 0, classes = 10; // batch 0: auto
    int64_t memory_mib = snnkit::snn_default_memory_budget >> 20;
    double e_ac = 0.9, e_mac = 4.6;
    bool per_step = false, quiet = false;
    int threads = 0;
};

std::vector<int64_t> parse_shape(const std::string & text) {
    std::vector<int64_t> s;
    std::stringstream in(text);
    std::string part;
    while (std::getline(in, part, 'x')) {
        try {
            s.push_back(std::stoll(part));
        } catch (const std::exception &) {
            snnkit::fail("--input " + text, "expected CxHxW, e.g. 3x32x32");
        }
    }
    if (s.size() != 3) {
        snnkit::fail("--input " + text, "expected CxHxW, e.g. 3x32x32");
    }
    return s;
}

void print_and_write(const stats_args & a, const snnkit::network_stats & s, nlohmann::json result,
                     const std::vector<data_used> & data = {}) {
    result["stats"] = nlohmann::json::parse(snnkit::stats_to_json(s));
    write_json_file(a.json_path, result, data);
    std::fprintf(human_out(a.json_path), "%s", snnkit::stats_table(s).c_str());
}

void run(stats_args & a) {
    set_threads(a.threads, snnkit::runtime_memory::bounded);
    snnkit::energy_options energy;
    energy.e_ac_pj = a.e_ac;
    energy.e_mac_pj = a.e_mac;
    if (a.model.empty() == a.arch.empty()) {
        snnkit::fail("stats", "give either --model DIR or --arch NAME");
    }
    if (!a.arch.empty()) { // a zoo architecture: MACs only, no weights needed
        snnkit::zoo_options zo;
        zo.arch = a.arch;
        zo.input_shape = parse_shape(a.input);
        zo.num_classes = a.classes;
        const snnkit::graph g = snnkit::zoo_build(zo);
        print_and_write(a, snnkit::ann_stats(g, energy),
                        {{"command", "stats"}, {"arch", a.arch}, {"input_shape", zo.input_shape}, {"kind", "ann"}});
        return;
    }
    snnkit::model_meta meta;
    const snnkit::graph g = snnkit::load_model(a.model, &meta);
    nlohmann::json result = {{"command", "stats"}, {"model", a.model}, {"arch", g.arch}};
    bool is_snn = false;
    for (const auto & nd : g.nodes) {
        is_snn |= nd.op == snnkit::op_kind::spike;
    }
    if (!is_snn) {
        result["kind"] = meta.kind.empty() ? "ann" : meta.kind;
        print_and_write(a, snnkit::ann_stats(g, energy), result);
        return;
    }
    const int64_t T = a.T > 0 ? a.T : snnkit::model_time_steps(meta, 32);
    const std::string ds = !a.dataset.empty() ? a.dataset : meta.dataset.empty() ? "fmnist" : meta.dataset;
    const snnkit::dataset test = snnkit::load_test_set(ds, a.data, a.limit);
    snnkit::check_model_classes(meta, test, a.model + " vs " + (a.data.empty() ? ds : a.data));
    const snnkit::augment_options pre = snnkit::model_preprocess(meta, ds);
    snnkit::stats_options so;
    snnkit::set_input_encoding(so, a.encoding, pre);
    so.static_once = !a.per_step;
    so.energy = energy;
    snnkit::stats_collector collector(g, T, so);
    snnkit::snn_run_options ro;
    ro.T = T;
    ro.batch = snnkit::snn_run_batch(g, test, pre, T, a.batch, 200, a.memory_mib << 20);
    ro.encoding = a.encoding;
    ro.progress = !a.quiet;
    ro.observer = collector.observer();
    const at::Tensor correct = snnkit::run_snn_on_dataset(g, test, pre, ro);
    const double n = static_cast<double>(test.images.size(0));
    const double acc = 100.0 * static_cast<double>(correct[T - 1].item<int64_t>()) / n;
    result["kind"] = meta.kind.empty() ? "snn" : meta.kind;
    result["conversion"] = meta_json(meta).value("conversion", nlohmann::json::object());
    result["dataset"] = ds;
    result["samples"] = test.images.size(0);
    result["T"] = T;
    result["batch_size"] = ro.batch;
    result["encoding"] = a.encoding;
    result["accuracy"] = acc;
    std::fprintf(human_out(a.json_path), "%s: accuracy %.2f %% at T = %lld on %lld images (%s encoding)\n\n", a.model.c_str(), acc,
                static_cast<long long>(T), static_cast<long long>(test.images.size(0)), a.encoding.c_str());
    print_and_write(a, collector.result(), result, {{ds, a.data, "test", test.images.size(0)}});
}

void add_stats(CLI::App & app) {
    auto a = std::make_shared<stats_args>();
    CLI::App * s = app.add_subcommand(
        "stats", "Firing rates, synaptic operations (SOPs), ANN MACs and energy per layer of an SNN (or MACs of an ANN)");
    s->add_option("--model", a->model, "Model directory (SNN: simulated on test images; ANN: MACs only)");
    s->add_option("--arch", a->arch, "Instead of --model: a zoo architecture (MACs only)");
    s->add_option("--input", a->input, "With --arch: input shape CxHxW")->capture_default_str();
    s->add_option("--classes", a->classes, "With --arch: number of classes")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--T", a->T, "Time steps (default: the model's own T)")->check(snnkit_cli::positive());
    s->add_option("--encoding", a->encoding, "direct | poisson (poisson: the first layer does SOPs)")->capture_default_str();
    s->add_option("--dataset", a->dataset, "Dataset (default: the model's)");
    s->add_option("--data", a->data, "Dataset directory");
    snnkit_cli::add_memory_budget_option(s, a->memory_mib);
    s->add_option("--limit", a->limit, "Only the first N test images (0 = all)")->check(snnkit_cli::non_negative());
    s->add_option("--batch-size", a->batch,
                  "Images per simulated batch (0 = auto: 200, fewer where T x batch would exceed --memory-budget / 8 per activation tensor)")
        ->check(snnkit_cli::non_negative())
        ->capture_default_str();
    s->add_option("--e-ac", a->e_ac, "Energy of one accumulate, pJ (45 nm, Horowitz 2014)")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_option("--e-mac", a->e_mac, "Energy of one multiply-accumulate, pJ (45 nm, Horowitz 2014)")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--static-per-step", a->per_step,
                "Count the analog layers before the first spike node T times (default: once per image)");
    s->add_option("--json", a->json_path, "Write the statistics as JSON ('-' = stdout)");
    s->add_option("--threads", a->threads, "Intra-op threads (0 = all cores)")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--quiet", a->quiet, "No progress output");
    s->callback([a, s]() {
        refuse_unused_flags(*s, {"--input", "--classes"}, a->model.empty(), "has an effect only with --arch (a --model knows its shape)");
        run(*a);
    });
}

const command_registration reg(45, "stats", add_stats);

} // namespace

} // namespace snnkit_cli
