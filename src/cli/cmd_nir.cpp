// src/cli/cmd_nir.cpp: `snnkit export-nir SNN_DIR --out MODEL.nir` and `snnkit import-nir MODEL.nir --out SNN_DIR`
// (the Neuromorphic Intermediate Representation, HDF5; see docs/interop.md for the neuron mapping).
#include "commands.h"

#include "snnkit/interop/nir_io.h"
#include "snnkit/io/model_io.h"

#include <cstdio>
#include <memory>

namespace snnkit_cli {

namespace {

struct nir_args {
    std::string in, out;
};

int count_spiking(const snnkit::graph & g) {
    int k = 0;
    for (const auto & n : g.nodes) {
        k += n.op == snnkit::op_kind::spike;
    }
    return k;
}

void add_export_nir(CLI::App & app) {
    auto a = std::make_shared<nir_args>();
    CLI::App * s = app.add_subcommand("export-nir", "Export an SNN model to NIR (HDF5) for other SNN toolkits and hardware");
    s->add_option("model", a->in, "SNN model directory (from convert or train-snn)")->required();
    s->add_option("--out", a->out, "Output .nir file")->required();
    s->callback([a]() {
        snnkit::model_meta meta;
        const snnkit::graph g = snnkit::load_model(a->in, &meta);
        snnkit::export_nir(a->out, g, meta);
        std::printf("exported %s -> %s (%zu layers, %d spiking)\n", a->in.c_str(), a->out.c_str(), g.nodes.size(),
                    count_spiking(g));
    });
}

void add_import_nir(CLI::App & app) {
    auto a = std::make_shared<nir_args>();
    CLI::App * s = app.add_subcommand("import-nir", "Import an SNN from a NIR (HDF5) file");
    s->add_option("file", a->in, "NIR file")->required();
    s->add_option("--out", a->out, "Output SNN model directory")->required();
    s->callback([a]() {
        snnkit::model_meta meta;
        const snnkit::graph g = snnkit::import_nir(a->in, &meta);
        snnkit::save_model(a->out, g, meta);
        std::printf("imported %s -> %s (%zu layers, %d spiking)\n", a->in.c_str(), a->out.c_str(), g.nodes.size(),
                    count_spiking(g));
    });
}

const command_registration reg_export(60, "export-nir", add_export_nir);
const command_registration reg_import(61, "import-nir", add_import_nir);

} // namespace

} // namespace snnkit_cli
