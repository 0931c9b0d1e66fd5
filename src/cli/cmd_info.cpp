// src/cli/cmd_info.cpp: `snnkit info MODEL_DIR` prints a model's layers, tensors and metadata.
#include "commands.h"

#include "snnkit/io/model_io.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

namespace snnkit_cli {

namespace {

std::string shape_of(const at::Tensor & t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) {
        s += (i ? "," : "") + std::to_string(t.size(i));
    }
    return s + "]";
}

} // namespace

namespace {

void add_info(CLI::App & app) {
    auto dir = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    CLI::App * s = app.add_subcommand("info", "Print a saved model's layers, tensors and metadata");
    s->add_option("model", *dir, "Model directory")->required();
    s->add_flag("--json", *as_json, "Print the model description as JSON");
    s->callback([dir, as_json]() {
        std::string meta;
        const snnkit::graph g = snnkit::load_model(*dir, &meta);
        if (*as_json) {
            std::printf("%s\n", snnkit::graph_to_json(g).c_str());
            return;
        }
        int64_t nparams = 0;
        std::printf("model %s: arch %s, input [%s], %lld classes, %zu nodes\n", dir->c_str(), g.arch.c_str(),
                    [&] {
                        std::string r;
                        for (auto v : g.input_shape) {
                            r += (r.empty() ? "" : ",") + std::to_string(v);
                        }
                        return r;
                    }().c_str(),
                    static_cast<long long>(g.num_classes), g.nodes.size());
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            const auto & n = g.nodes[i];
            std::string ins, ts;
            for (int j : n.inputs) {
                ins += (ins.empty() ? "" : ",") + std::to_string(j);
            }
            for (const auto * m : {&n.params, &n.buffers}) {
                for (const auto & kv : *m) {
                    ts += " " + kv.first + shape_of(kv.second);
                    if (m == &n.params) {
                        nparams += kv.second.numel();
                    }
                }
            }
            std::printf("%4zu %-28s %-16s <- %-8s%s\n", i, n.name.c_str(), snnkit::op_to_string(n.op).c_str(),
                        ins.c_str(), ts.c_str());
        }
        std::printf("parameters: %lld\nmeta: %s\n", static_cast<long long>(nparams),
                    nlohmann::json::parse(meta).dump().substr(0, 2000).c_str());
    });
}

const command_registration reg(90, "info", add_info);

} // namespace

} // namespace snnkit_cli
