// bench/dspike_fdg_probe.cpp: how far the finite-difference gradient (FDG) that Dspike's temperature
// adaptation steers by can be trusted on a trained SNN. On each of B training batches (unaugmented, seeded
// random images), with the network as dspike_adapt sees it (BatchNorm frozen at the batch's statistics):
//   - the FDG of the first layer on K seeded-random coordinates at each eps, and the cosines between them
//     (a stable FDG agrees with itself across eps);
//   - the BPTT gradient at each temperature b and its cosine to each FDG (what adaptation compares);
//   - across batches: the cosine between batch 1's and batch 2's FDG (same eps) and BPTT gradient (same b).
// --bn frozen (dspike_adapt's default: BatchNorm at the batch's statistics, held fixed) or batch (each
// perturbed copy's own batch statistics: exactly the training loss).
// Prints Markdown tables; --json writes them as JSON.
//
// usage: dspike_fdg_probe --model DIR --data DIR [--dataset NAME] [--T T] [--batch 128] [--batches 2]
//        [--coords 64] [--eps 0.003,0.01,0.03] [--b 1,2,3,4,5,6] [--seed 0] [--threads 1] [--bn frozen|batch] [--json FILE]
//        (--dataset and --T default to the model's own, from its model.json)
#include "snnkit/core/provenance.h"
#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"
#include "snnkit/core/runtime.h"
#include "snnkit/data/augment.h"
#include "snnkit/data/dataset_by_name.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/model_io.h"
#include "snnkit/stats/measure.h"
#include "snnkit/train/dspike_adapt.h"
#include "snnkit/train/snn_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<double> parse_list(const std::string & text, const char * flag) {
    std::vector<double> v;
    std::stringstream ss(text);
    for (std::string t; std::getline(ss, t, ',');) {
        try {
            v.push_back(std::stod(t));
        } catch (const std::exception &) {
            snnkit::fail(flag, "not a number: '" + t + "'");
        }
        if (!(v.back() > 0)) {
            snnkit::fail(flag, "values must be positive, got " + t);
        }
    }
    if (v.empty()) {
        snnkit::fail(flag, "needs at least one value");
    }
    return v;
}

int64_t parse_int(const std::string & text, const std::string & flag) {
    try {
        size_t used = 0;
        const int64_t v = std::stoll(text, &used);
        if (used == text.size()) {
            return v;
        }
    } catch (const std::exception &) {
    }
    snnkit::fail(flag, "not an integer: '" + text + "'");
}

struct batch_result {
    std::vector<at::Tensor> fdg;  // per eps, [K] double
    std::vector<at::Tensor> bptt; // per b, [K] double
};

void print_header(const char * corner, const std::vector<double> & cols) {
    std::printf("| %s |", corner);
    for (double c : cols) {
        std::printf(" %g |", c);
    }
    std::printf("\n|---|");
    for (size_t i = 0; i < cols.size(); ++i) {
        std::printf("---|");
    }
    std::printf("\n");
}

int run(int argc, char ** argv) {
    std::string model, data, dataset, eps_text = "0.003,0.01,0.03", b_text = "1,2,3,4,5,6", json_path, bn = "frozen";
    int64_t T = 0, batch = 128, batches = 2, coords = 64, threads = 1;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            std::printf("usage: dspike_fdg_probe --model DIR --data DIR [--dataset NAME] [--T T] [--batch 128] "
                        "[--batches 2] [--coords 64] [--eps 0.003,0.01,0.03] [--b 1,2,3,4,5,6] [--seed 0] "
                        "[--threads 1] [--bn frozen|batch] [--json FILE]\n"
                        "  --dataset and --T default to the model's own (its model.json)\n");
            return 0;
        }
        if (i + 1 >= argc) {
            snnkit::fail(k, "needs a value");
        }
        const std::string v = argv[i + 1];
        if (k == "--model") model = v;
        else if (k == "--data") data = v;
        else if (k == "--dataset") dataset = v;
        else if (k == "--T") T = parse_int(v, k);
        else if (k == "--batch") batch = parse_int(v, k);
        else if (k == "--batches") batches = parse_int(v, k);
        else if (k == "--coords") coords = parse_int(v, k);
        else if (k == "--eps") eps_text = v;
        else if (k == "--b") b_text = v;
        else if (k == "--seed") seed = static_cast<uint64_t>(parse_int(v, k));
        else if (k == "--threads") threads = parse_int(v, k);
        else if (k == "--json") json_path = v;
        else if (k == "--bn") bn = v;
        else snnkit::fail(k, "unknown option (see --help)");
    }
    if (model.empty()) {
        snnkit::fail("--model", "a trained SNN model directory is required");
    }
    if (T < 0 || batch < 1 || batches < 1 || coords < 1) {
        snnkit::fail("dspike_fdg_probe", "--batch, --batches and --coords must be positive, --T too when given");
    }
    if (bn != "frozen" && bn != "batch") {
        snnkit::fail("--bn " + bn, "unknown mode (known: frozen, batch)");
    }
    const std::vector<double> eps = parse_list(eps_text, "--eps"), bs = parse_list(b_text, "--b");
    snnkit::runtime_init(static_cast<int>(threads));

    snnkit::model_meta meta;
    snnkit::graph g = snnkit::load_model(model, &meta);
    if (T == 0) {
        T = snnkit::model_time_steps(meta, 0);
        if (T < 1) {
            snnkit::fail(model, "its model.json records no T; give --T");
        }
    }
    if (dataset.empty()) {
        dataset = meta.dataset.empty() ? "cifar10" : meta.dataset;
    }
    for (const auto & n : g.nodes) {
        if (n.op == snnkit::op_kind::spike && n.attrs.neuron.surrogate.kind != snnkit::surrogate_kind::dspike) {
            snnkit::fail(model, "layer '" + n.name + "' does not use the Dspike surrogate");
        }
    }
    snnkit::dataset_spec spec;
    spec.name = dataset;
    spec.dir = data;
    const snnkit::dataset train = snnkit::load_dataset(spec, snnkit::split::train);
    const snnkit::augment_options pre = snnkit::dataset_preprocess(dataset);
    const int64_t n = train.images.size(0);
    if (n < batch * batches) {
        snnkit::fail(data, "has " + std::to_string(n) + " training images, fewer than --batch x --batches");
    }
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    const at::Tensor order = at::randperm(n, gen, at::kLong);
    const int layer = snnkit::first_weight_layer(g);
    const int64_t numel = g.nodes[layer].params.at("weight").numel();
    snnkit::dspike_adapt_options opt;
    opt.coords = coords;
    opt.seed = seed;
    opt.bn_batch_stats = bn == "batch";
    const at::Tensor idx = snnkit::dspike_coords(numel, opt, 0);
    std::printf("dspike_fdg_probe: %s, first layer '%s' (%lld weights, %lld in the FDG), T %lld, %lld batches of %lld, "
                "BatchNorm %s\n",
                model.c_str(), g.nodes[layer].name.c_str(), static_cast<long long>(numel),
                static_cast<long long>(idx.numel()), static_cast<long long>(T), static_cast<long long>(batches),
                static_cast<long long>(batch), bn == "batch" ? "with each copy's batch statistics" : "frozen at the batch's statistics");

    std::vector<batch_result> res(batches);
    nlohmann::json out = {{"model", model}, {"T", T}, {"batch", batch}, {"coords", idx.numel()},
                          {"eps", eps}, {"b", bs}, {"bn", bn}, {"batches", nlohmann::json::array()}};
    for (int64_t bi = 0; bi < batches; ++bi) {
        const at::Tensor pick = order.slice(0, bi * batch, (bi + 1) * batch);
        const at::Tensor x = snnkit::make_batch(train.images, pick, pre, 0);
        const at::Tensor y = train.labels.index_select(0, pick);
        snnkit::graph frozen = snnkit::dspike_frozen_copy(g, T, x, opt.bn_batch_stats);
        batch_result & r = res[bi];
        for (double e : eps) {
            const auto t0 = snnkit::clock_now();
            snnkit::dspike_adapt_options o = opt;
            o.eps = e;
            r.fdg.push_back(snnkit::dspike_fdg(frozen, T, x, y, idx, o));
            std::fprintf(stderr, "batch %lld: FDG at eps %g in %.1f s\n", static_cast<long long>(bi + 1), e,
                         snnkit::seconds_since(t0));
        }
        for (double b : bs) {
            r.bptt.push_back(snnkit::dspike_bptt_grad(frozen, T, x, y, b, opt).index_select(0, idx).to(at::kDouble));
        }
        std::printf("\nbatch %lld: cosine between the FDGs at each eps (|FDG| on the diagonal)\n\n",
                    static_cast<long long>(bi + 1));
        print_header("eps", eps);
        nlohmann::json jb = {{"fdg_norm", nlohmann::json::array()}, {"fdg_cosine", nlohmann::json::array()},
                             {"bptt_fdg_cosine", nlohmann::json::array()}};
        for (size_t i = 0; i < eps.size(); ++i) {
            std::printf("| %g |", eps[i]);
            nlohmann::json row = nlohmann::json::array();
            for (size_t j = 0; j < eps.size(); ++j) {
                const double c = i == j ? r.fdg[i].norm().item<double>() : snnkit::gradient_cosine(r.fdg[i], r.fdg[j]);
                std::printf(" %.3f |", c);
                row.push_back(c);
            }
            jb["fdg_norm"].push_back(r.fdg[i].norm().item<double>());
            jb["fdg_cosine"].push_back(row);
            std::printf("\n");
        }
        std::printf("\nbatch %lld: cosine of the BPTT gradient at each b to the FDG at each eps (and |BPTT|)\n\n",
                    static_cast<long long>(bi + 1));
        std::printf("| b \\ eps |");
        for (double e : eps) {
            std::printf(" %g |", e);
        }
        std::printf(" norm |\n|---|");
        for (size_t i = 0; i <= eps.size(); ++i) {
            std::printf("---|");
        }
        std::printf("\n");
        for (size_t k = 0; k < bs.size(); ++k) {
            std::printf("| %g |", bs[k]);
            nlohmann::json row = nlohmann::json::array();
            for (size_t j = 0; j < eps.size(); ++j) {
                const double c = snnkit::gradient_cosine(r.bptt[k], r.fdg[j]);
                std::printf(" %.3f |", c);
                row.push_back(c);
            }
            jb["bptt_fdg_cosine"].push_back(row);
            jb["bptt_norm"].push_back(r.bptt[k].norm().item<double>());
            std::printf(" %.3f |\n", r.bptt[k].norm().item<double>());
        }
        out["batches"].push_back(jb);
        std::fflush(stdout);
    }
    if (batches >= 2) {
        std::printf("\nbatch 1 against batch 2: cosine of the FDGs (same eps) and of the BPTT gradients (same b)\n\n");
        std::printf("| quantity | cosine |\n|---|---|\n");
        nlohmann::json across = nlohmann::json::object();
        for (size_t j = 0; j < eps.size(); ++j) {
            const double c = snnkit::gradient_cosine(res[0].fdg[j], res[1].fdg[j]);
            std::printf("| FDG eps %g | %.3f |\n", eps[j], c);
            across["fdg"].push_back(c);
        }
        for (size_t k = 0; k < bs.size(); ++k) {
            const double c = snnkit::gradient_cosine(res[0].bptt[k], res[1].bptt[k]);
            std::printf("| BPTT b %g | %.3f |\n", bs[k], c);
            across["bptt"].push_back(c);
        }
        out["across_batches"] = across;
    }
    if (!json_path.empty()) {
        out["provenance"] = nlohmann::json::parse(snnkit::provenance_json(
            std::vector<std::string>(argv, argv + argc),
            {snnkit::identify_data(dataset, snnkit::dataset_dir(spec), "train (probe batches)", train.images.size(0))}));
        snnkit::write_file_atomic(json_path, out.dump(2) + "\n");
    }
    return 0;
}

} // namespace

int main(int argc, char ** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception & e) {
        std::fprintf(stderr, "dspike_fdg_probe: error: %s\n", e.what());
        return 1;
    }
}
