// src/cli/cmd_report.cpp: `snnkit report RESULT.json... --out DIR` turns the --json files of the other
// commands into PNG charts (gnuplot) and one Markdown page, DIR/index.md, with the numbers in tables.
#include "commands.h"

#include "snnkit/stats/report.h"

#include <cstdio>
#include <memory>

namespace snnkit_cli {

namespace {

struct report_args {
    std::vector<std::string> inputs;
    snnkit::report_options opt;
};

void add_report(CLI::App & app) {
    auto a = std::make_shared<report_args>();
    CLI::App * s = app.add_subcommand(
        "report", "Charts (PNG, gnuplot) and a Markdown page from the --json results of train-ann, train-snn, "
                  "convert, eval and stats");
    s->add_option("results", a->inputs, "Result JSON files (recognised by their \"command\" field)")->required();
    s->add_option("--out", a->opt.out_dir, "Output directory (index.md and the charts)")->required();
    s->add_option("--title", a->opt.title, "Page title")->capture_default_str();
    s->add_option("--gnuplot", a->opt.gnuplot, "The gnuplot program")->capture_default_str();
    s->callback([a]() {
        const snnkit::report_result r = snnkit::write_report(a->inputs, a->opt);
        std::printf("wrote %s and %zu charts:\n", r.index.c_str(), r.charts.size());
        for (const auto & c : r.charts) {
            std::printf("  %s\n", c.c_str());
        }
    });
}

const command_registration reg(90, "report", add_report);

} // namespace

} // namespace snnkit_cli
