// src/cli/cmd_info.cpp: `snnkit info MODEL_DIR` prints a model's layers, tensors and metadata; `--json FILE`
// writes the same as JSON (the graph as model.json stores it, the metadata, the parameter count).
#include "commands.h"

#include "snnkit/core/shape_text.h"
#include "snnkit/io/model_io.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

namespace snnkit_cli {

namespace {

struct info_args {
    std::string dir;
    std::string json_path;
};

void run(const info_args & a) {
    snnkit::model_meta meta;
    const snnkit::graph g = snnkit::load_model(a.dir, &meta);
    std::FILE * out = human_out(a.json_path);
    int64_t nparams = 0;
    std::fprintf(out, "model %s: arch %s, input %s, %lld classes, %zu nodes\n", a.dir.c_str(), g.arch.c_str(),
                 snnkit::shape_text(g.input_shape, ",").c_str(), static_cast<long long>(g.num_classes), g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const auto & n = g.nodes[i];
        std::string ins, ts;
        for (int j : n.inputs) {
            ins += (ins.empty() ? "" : ",") + std::to_string(j);
        }
        for (const auto * m : {&n.params, &n.buffers}) {
            for (const auto & kv : *m) {
                ts += " " + kv.first + snnkit::shape_text(kv.second.sizes(), ",");
                if (m == &n.params) {
                    nparams += kv.second.numel();
                }
            }
        }
        std::fprintf(out, "%4zu %-28s %-16s <- %-8s%s\n", i, n.name.c_str(), snnkit::op_to_string(n.op).c_str(),
                     ins.c_str(), ts.c_str());
    }
    const nlohmann::json m = meta_json(meta);
    std::fprintf(out, "parameters: %lld\nmeta: %s\n", static_cast<long long>(nparams), m.dump().substr(0, 2000).c_str());
    write_json_file(a.json_path, nlohmann::json({{"command", "info"},
                                                 {"model", a.dir},
                                                 {"parameters", nparams},
                                                 {"graph", nlohmann::json::parse(snnkit::graph_to_json(g))},
                                                 {"meta", m}}));
}

void add_info(CLI::App & app) {
    auto a = std::make_shared<info_args>();
    CLI::App * s = app.add_subcommand("info", "Print a saved model's layers, tensors and metadata");
    s->add_option("model", a->dir, "Model directory")->required();
    s->add_option("--json", a->json_path,
                  "Write the description as JSON: graph (as in model.json), meta, parameter count ('-' = stdout)");
    s->callback([a]() { run(*a); });
}

const command_registration reg(90, "info", add_info);

} // namespace

} // namespace snnkit_cli
