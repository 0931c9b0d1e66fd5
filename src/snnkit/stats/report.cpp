// snnkit/stats/report.cpp: JSON results -> charts + index.md.
#include "snnkit/stats/report.h"

#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/stats/charts.h"
#include "snnkit/stats/gnuplot.h"
#include "snnkit/stats/report_runs_internal.h"
#include "snnkit/stats/stats_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

namespace snnkit {

namespace {

using namespace report_detail;

struct md_table {
    std::vector<std::string> head;
    std::vector<std::vector<std::string>> rows;
    std::string str() const {
        std::string s = "|";
        std::string rule = "|";
        for (const auto & h : head) {
            s += " " + cell(h) + " |";
            rule += "---|";
        }
        s += "\n" + rule + "\n";
        for (const auto & r : rows) {
            s += "|";
            for (const auto & c : r) {
                s += " " + cell(c) + " |";
            }
            s += "\n";
        }
        return s + "\n";
    }
    // Names come from model files: a '|' would split the cell, '<' start HTML, a newline end the row.
    static std::string cell(const std::string & c) {
        std::string e;
        for (char ch : c) {
            e += ch == '|'    ? std::string("\\|")
                 : ch == '<'  ? std::string("&lt;")
                 : ch == '\n' ? std::string(" ")
                              : std::string(1, ch);
        }
        return e;
    }
};

// The page under construction: Markdown text and the charts it links.
struct page {
    report_options opt;
    chart_style style;
    std::string md;
    std::vector<std::string> charts;

    std::string file(const std::string & name) const { return (std::filesystem::path(opt.out_dir) / name).string(); }
    void link(const std::string & name, const std::string & alt) {
        charts.push_back(file(name));
        md += "![" + alt + "](" + name + ")\n\n";
    }
    void lines(const std::string & name, const std::string & alt, const std::vector<line_panel> & panels) {
        plot_lines(panels, file(name), style);
        link(name, alt);
    }
    void bars(const std::string & name, const bar_panel & panel) {
        plot_bars(panel, file(name), style);
        link(name, panel.title);
    }
};

series column(const json & history, const char * key, const std::string & title) {
    series s;
    s.title = title;
    for (const auto & e : history) {
        const double v = number(e, key);
        if (std::isfinite(v)) {
            s.x.push_back(number(e, "epoch"));
            s.y.push_back(v);
        }
    }
    return s;
}

void training_section(page & p, const std::vector<run *> & runs) {
    if (runs.empty()) {
        return;
    }
    p.md += "## Training\n\n";
    md_table summary{{"run", "dataset", "epochs", "test accuracy %", "training time s"}, {}};
    for (const run * r : runs) {
        summary.rows.push_back({r->label, text(r->j, "dataset"), fixed(number(r->j, "epochs"), 0),
                                fixed(number(r->j, "test_accuracy"), 2), fixed(number(r->j, "train_seconds"), 1)});
    }
    p.md += summary.str();
    for (const run * r : runs) {
        const json h = r->j.value("history", json::array());
        p.md += "### " + r->label + "\n\n";
        if (!h.is_array() || h.empty()) {
            p.md += "(no per-epoch history in " + r->path + ")\n\n";
            continue;
        }
        line_panel loss{"training loss", "epoch", "loss", {column(h, "train_loss", "train loss")}, {}, "top right"};
        line_panel acc{"accuracy", "epoch", "accuracy %",
                       {column(h, "train_accuracy", "train"), column(h, "test_accuracy", "test")}, {}, "bottom right"};
        p.lines("training_" + r->slug + ".png", "training curves, " + r->label, {loss, acc});
        md_table t{{"epoch", "train loss", "train accuracy %", "test accuracy %", "lr", "seconds"}, {}};
        md_table d{{"epoch", "candidates b-db / b / b+db", "cos(b-db)", "cos(b)", "cos(b+db)", "b kept", "FDG s"}, {}};
        line_panel b{"Dspike temperature b", "epoch", "b", {}, {}, "top left"};
        line_panel cs{"cosine similarity of each candidate's gradient to the FDG", "epoch", "cosine", {}, {}, "bottom right"};
        series sb{"b kept", {}, {}}, lo{"candidate b - db", {}, {}, true}, hi{"candidate b + db", {}, {}, true};
        series c[3] = {{"b - db", {}, {}}, {"b", {}, {}}, {"b + db", {}, {}}};
        for (const auto & e : h) {
            const double ep = number(e, "epoch");
            t.rows.push_back({fixed(ep, 0), fixed(number(e, "train_loss"), 4), fixed(number(e, "train_accuracy"), 2),
                              fixed(number(e, "test_accuracy"), 2), sci(number(e, "lr")), fixed(number(e, "seconds"), 1)});
            if (!e.contains("dspike") || !e["dspike"].is_object()) {
                continue;
            }
            const json & ds = e["dspike"];
            const json cand = ds.value("candidates", json::array()), cos = ds.value("cosine", json::array());
            sb.x.push_back(ep);
            sb.y.push_back(number(ds, "b"));
            std::string cands;
            if (cand.is_array() && cand.size() == 3) {
                lo.x.push_back(ep), lo.y.push_back(element(cand, 0));
                hi.x.push_back(ep), hi.y.push_back(element(cand, 2));
                cands = fixed(element(cand, 0), 3) + " / " + fixed(element(cand, 1), 3) + " / " +
                        fixed(element(cand, 2), 3);
            }
            std::string cv[3];
            for (size_t k = 0; k < 3 && cos.is_array() && k < cos.size(); ++k) {
                c[k].x.push_back(ep);
                c[k].y.push_back(element(cos, k));
                cv[k] = fixed(element(cos, k), 4);
            }
            d.rows.push_back({fixed(ep, 0), cands, cv[0], cv[1], cv[2], fixed(number(ds, "b"), 4), fixed(number(ds, "fdg_seconds"), 1)});
        }
        if (!sb.x.empty()) {
            b.lines = {lo, sb, hi}; // the same colours as the cosine panel's candidates
            cs.lines = {c[0], c[1], c[2]};
            p.lines("dspike_" + r->slug + ".png", "Dspike b and cosine similarities, " + r->label, {b, cs});
            p.md += "Dspike temperature adaptation: each epoch compares the surrogate gradient under the candidates "
                    "b - db, b, b + db with a finite-difference gradient (FDG) and keeps the most similar one.\n\n";
            p.md += d.str();
        }
        p.md += t.str();
    }
}

void conversion_section(page & p, const std::vector<run *> & runs) {
    if (runs.empty()) {
        return;
    }
    p.md += "## Conversion\n\n";
    md_table t{{"SNN", "settings", "T", "calibration s"}, {}};
    for (const run * r : runs) {
        const json c = r->j.value("conversion", json::object());
        t.rows.push_back({base_name(text(r->j, "model")), describe_conversion(c, ""), fixed(number(c, "T"), 0),
                          fixed(number(r->j, "calibration_seconds"), 1)});
    }
    p.md += t.str();
    for (const run * r : runs) {
        const json cal = r->j.value("calibration", json::array());
        if (!cal.is_array() || cal.empty()) {
            continue;
        }
        p.md += "### Calibration of " + r->label + "\n\n";
        md_table l{{"layer", "V_th before", "V_th after", "MSE before", "MSE after"}, {}};
        bar_panel bp{"layer MSE before / after calibration, " + r->label, "MSE (SNN rate vs ANN)", {}, {{"before", {}, {}}, {"after", {}, {}}}, true};
        for (const auto & e : cal) {
            l.rows.push_back({text(e, "layer"), fixed(number(e, "v_th_before"), 4), fixed(number(e, "v_th_after"), 4),
                              sci(number(e, "mse_before")), sci(number(e, "mse_after"))});
            bp.categories.push_back(text(e, "layer"));
            bp.groups[0].y.push_back(number(e, "mse_before"));
            bp.groups[1].y.push_back(number(e, "mse_after"));
        }
        p.bars("calibration_" + r->slug + ".png", bp);
        p.md += l.str();
    }
}

// Per-layer values of one quantity over several runs: a table and a bar chart.
void per_layer(page & p, const std::vector<std::pair<const run *, json>> & runs, const char * key, const std::string & title,
               const std::string & ylabel, const std::string & file, bool log_y,
               const std::function<std::string(double)> & format) {
    std::vector<std::string> layers;
    for (const auto & rl : runs) {
        for (const auto & l : rl.second) {
            const std::string name = text(l, "layer");
            if (std::isfinite(number(l, key)) && std::find(layers.begin(), layers.end(), name) == layers.end()) {
                layers.push_back(name);
            }
        }
    }
    if (layers.empty()) {
        return;
    }
    bar_panel bp{title, ylabel, layers, {}, log_y};
    md_table t{{"layer"}, std::vector<std::vector<std::string>>(layers.size())};
    for (size_t i = 0; i < layers.size(); ++i) {
        t.rows[i].push_back(layers[i]);
    }
    for (const auto & rl : runs) {
        series s{rl.first->label, {}, std::vector<double>(layers.size(), NAN)};
        for (const auto & l : rl.second) {
            const auto it = std::find(layers.begin(), layers.end(), text(l, "layer"));
            if (it != layers.end()) {
                s.y[it - layers.begin()] = number(l, key);
            }
        }
        t.head.push_back(rl.first->label);
        for (size_t i = 0; i < layers.size(); ++i) {
            t.rows[i].push_back(std::isfinite(s.y[i]) ? format(s.y[i]) : "");
        }
        bp.groups.push_back(s);
    }
    p.md += "### " + title + "\n\n";
    p.bars(file, bp);
    p.md += t.str();
}

// Which ANN a converted SNN came from, for the latency chart: a QCFS-trained one (its levels) or a ReLU one.
std::string source_ann(const json & conversion) {
    if (conversion.contains("qcfs") && conversion["qcfs"].is_object()) {
        const double L = number(conversion["qcfs"], "levels");
        return std::isfinite(L) ? "QCFS ANN (L = " + fixed(L, 0) + ")" : "QCFS ANN";
    }
    return "ReLU ANN";
}

// Accuracy against latency T: one line per (source ANN, conversion method), one point per conversion at T. A
// conversion that does not depend on T (no calibration, no bias shift) gives every power-of-two t of its one
// simulation. Drawn only when the runs simulate conversions at two or more T.
void latency_section(page & p, const std::vector<run *> & snn) {
    std::map<std::string, std::map<int64_t, double>> lines;
    std::map<std::string, std::string> ann_of; // line -> its ANN's accuracy (range over the runs)
    std::set<int64_t> conversion_ts;
    std::vector<std::pair<std::string, double>> levels;
    std::set<std::string> level_seen;
    for (const run * r : snn) {
        const json c = r->j.value("conversion", json());
        if (!c.is_object() || c.empty()) {
            continue; // a trained SNN: its T is not a latency choice of a conversion
        }
        const auto acc = numbers_of(r->j, "accuracy_per_t");
        const auto T = static_cast<int64_t>(acc.size());
        if (T == 0) {
            continue;
        }
        const std::string src = source_ann(c);
        const std::string key = src + ": " + describe_conversion(c, "");
        const bool per_T = text(c, "calib", "none") != "none" || c.value("bias_shift", false);
        auto & pts = lines[key];
        conversion_ts.insert(T);
        pts.emplace(T, acc[T - 1]);
        for (int64_t t = 1; !per_T && t < T; t *= 2) { // the same conversion at every power-of-two t
            pts.emplace(t, acc[t - 1]);
        }
        const double ann = number(r->j, "ann_accuracy");
        if (std::isfinite(ann) && level_seen.insert(src + fixed(ann, 2)).second) {
            levels.push_back({src + " " + fixed(ann, 2) + " %", ann});
        }
    }
    if (conversion_ts.size() < 2) {
        return;
    }
    p.md += "## SNN accuracy against latency T\n\nOne point per conversion at T (calibrated at that T); a conversion "
            "without calibration or bias shift does not depend on T, so one simulation gives each power-of-two t.\n\n";
    line_panel lp{"SNN accuracy against latency", "latency T (time steps)", "accuracy %", {}, levels, "bottom right"};
    lp.log2_x = true;
    std::set<int64_t> all_t;
    for (const auto & [key, pts] : lines) {
        series s{key, {}, {}};
        for (const auto & [t, a] : pts) {
            s.x.push_back(static_cast<double>(t));
            s.y.push_back(a);
            all_t.insert(t);
        }
        s.dashed = key.rfind("ReLU", 0) == 0;
        lp.lines.push_back(s);
    }
    md_table t{{"source ANN: conversion"}, {}};
    for (int64_t c : all_t) {
        t.head.push_back("T=" + std::to_string(c));
    }
    for (const auto & [key, pts] : lines) {
        std::vector<std::string> row{key};
        for (int64_t c : all_t) {
            const auto it = pts.find(c);
            row.push_back(it == pts.end() ? "" : fixed(it->second, 2) + " %");
        }
        t.rows.push_back(row);
    }
    p.lines("accuracy_vs_latency.png", "SNN accuracy against latency T", {lp});
    p.md += t.str();
}

void eval_section(page & p, const std::vector<run *> & evals, const std::vector<run *> & stats, const std::vector<run *> & train) {
    std::vector<run *> snn;
    for (run * r : evals) {
        if (r->j.contains("accuracy_per_t")) {
            snn.push_back(r);
        }
    }
    if (snn.empty()) {
        return;
    }
    p.md += "## SNN accuracy after t time steps\n\n";
    int64_t maxT = 0;
    std::vector<std::pair<std::string, double>> levels;
    std::set<std::string> level_seen;
    line_panel lp{"SNN accuracy after t steps", "time step t", "accuracy %", {}, {}, "outside right top"};
    for (const run * r : snn) {
        const auto acc = numbers_of(r->j, "accuracy_per_t");
        maxT = std::max<int64_t>(maxT, static_cast<int64_t>(acc.size()));
        series s{r->label, {}, acc};
        for (size_t t = 0; t < acc.size(); ++t) {
            s.x.push_back(static_cast<double>(t + 1));
        }
        lp.lines.push_back(s);
        const double ann = number(r->j, "ann_accuracy");
        if (std::isfinite(ann) && level_seen.insert(fixed(ann, 2)).second) {
            levels.push_back({"ANN " + fixed(ann, 2) + " %", ann});
        }
    }
    for (const run * r : train) { // no ANN accuracy measured beside the SNNs: the trained ANN's own
        if (levels.empty() && r->command == "train-ann" && std::isfinite(number(r->j, "test_accuracy"))) {
            levels.push_back({"ANN " + fixed(number(r->j, "test_accuracy"), 2) + " % (training)", number(r->j, "test_accuracy")});
        }
    }
    lp.levels = levels;
    md_table t{{"SNN", "images"}, {}};
    std::vector<int64_t> cols;
    for (int64_t c = 1; c <= maxT; c *= 2) {
        cols.push_back(c);
    }
    if (cols.back() != maxT) {
        cols.push_back(maxT);
    }
    for (int64_t c : cols) {
        t.head.push_back("t=" + std::to_string(c));
    }
    t.head.push_back("ANN");
    for (const run * r : snn) {
        const auto acc = numbers_of(r->j, "accuracy_per_t");
        std::vector<std::string> row{r->label, fixed(number(r->j, "samples"), 0)};
        for (int64_t c : cols) {
            row.push_back(c <= static_cast<int64_t>(acc.size()) ? fixed(acc[c - 1], 2) + " %" : "");
        }
        const double ann = number(r->j, "ann_accuracy");
        row.push_back(std::isfinite(ann) ? fixed(ann, 2) + " %" : "");
        t.rows.push_back(row);
    }
    p.lines("accuracy_vs_t.png", "SNN accuracy vs t", {lp});
    p.md += t.str();
    latency_section(p, snn);

    p.md += "## Per layer\n\n";
    std::vector<std::pair<const run *, json>> rates, errors;
    for (const run * r : snn) {
        rates.push_back({r, r->j.value("layers", json::array())});
    }
    for (const run * r : stats) { // a stats run adds firing rates unless an eval of the same model has them
        if (r->j.contains("stats") && !shown_before(snn, r)) {
            rates.push_back({r, r->j["stats"].value("neurons", json::array())});
        }
    }
    per_layer(p, rates, "firing_rate", "firing rate per layer (spikes per neuron per step)", "firing rate",
              "firing_rate.png", false, [](double v) { return fixed(v, 4); });
    per_layer(p, rates, "conversion_mse", "conversion error per layer (MSE of SNN rate vs ANN activation)", "MSE",
              "conversion_error.png", true, sci);
}

void ops_section(page & p, const std::vector<run *> & runs) {
    if (runs.empty()) {
        return;
    }
    p.md += "## Operations and energy\n\n";
    const json & first = runs.front()->j["stats"];
    p.md += "Per image (all T steps of one inference). SOPs: each spike times the synapses it reaches (kernel, "
            "stride, padding, groups honoured; avg-pools folded into the next layer). Energy: " +
            fixed(number(first["energy_pj_per_op"], "ac"), 2) + " pJ per accumulate, " +
            fixed(number(first["energy_pj_per_op"], "mac"), 2) +
            " pJ per multiply-accumulate (45 nm, Horowitz ISSCC 2014). Conventions: docs/stats.md.\n\n";
    md_table tot{{"run", "T", "images", "accuracy %", "firing rate", "SOPs", "SNN MACs", "ANN MACs", "SNN energy",
                  "ANN energy", "ANN/SNN"},
                 {}};
    for (const run * r : runs) {
        const json & s = r->j["stats"];
        const json & t = s["totals"];
        const bool ann = text(s, "kind") == "ann";
        tot.rows.push_back({r->label, ann ? "" : fixed(number(s, "T"), 0), ann ? "" : fixed(number(s, "images"), 0),
                            fixed(number(r->j, "accuracy"), 2), ann ? "" : fixed(number(t, "firing_rate"), 4),
                            format_count(number(t, "sops")), format_count(number(t, "snn_macs")),
                            format_count(number(t, "ann_macs")), format_energy(number(t, "snn_energy_pj")),
                            format_energy(number(t, "ann_energy_pj")), ann ? "" : fixed(number(t, "ann_to_snn_energy"), 2) + "x"});
    }
    p.md += tot.str();
    // One chart per quantity, every run side by side, the ANN as one more group.
    std::vector<std::pair<const run *, json>> ops, energy;
    run ann;
    ann.label = "ANN";
    json ann_ops = json::array(), ann_energy = json::array();
    for (const run * r : runs) {
        json o = json::array(), e = json::array();
        for (const auto & l : r->j["stats"].value("layers", json::array())) {
            o.push_back({{"layer", text(l, "layer")}, {"ops", number(l, "sops") + number(l, "snn_macs")}});
            e.push_back({{"layer", text(l, "layer")}, {"pj", number(l, "snn_energy_pj")}});
            if (r == runs.front()) {
                ann_ops.push_back({{"layer", text(l, "layer")}, {"ops", number(l, "ann_macs")}});
                ann_energy.push_back({{"layer", text(l, "layer")}, {"pj", number(l, "ann_energy_pj")}});
            }
        }
        if (text(r->j["stats"], "kind") != "ann" && !shown_before(runs, r)) {
            ops.push_back({r, o});
            energy.push_back({r, e});
        }
    }
    ops.push_back({&ann, ann_ops});
    energy.push_back({&ann, ann_energy});
    per_layer(p, ops, "ops", "operations per layer and image: SNN SOPs (+ MACs of analog-input layers), ANN MACs",
              "operations", "operations.png", true, format_count);
    per_layer(p, energy, "pj", "energy per layer and image (pJ)", "pJ", "energy.png", true, format_energy);
    for (const run * r : runs) {
        const json & s = r->j["stats"];
        if (shown_before(runs, r)) {
            continue; // the same figures as its eval's table (the totals above show both)
        }
        p.md += "### " + r->label + "\n\n";
        md_table l{{"layer", "op", "input", "input rate", "SOPs", "SNN MACs", "ANN MACs", "SNN energy", "ANN energy"}, {}};
        for (const auto & e : s.value("layers", json::array())) {
            const bool events = text(e, "input") == "spikes";
            l.rows.push_back({text(e, "layer"), text(e, "op"), text(e, "source") + (events ? " (spikes)" : ""),
                              events ? fixed(number(e, "input_rate"), 4) : "", format_count(number(e, "sops")),
                              format_count(number(e, "snn_macs")), format_count(number(e, "ann_macs")),
                              format_energy(number(e, "snn_energy_pj")), format_energy(number(e, "ann_energy_pj"))});
        }
        p.md += l.str();
    }
}

} // namespace

report_result write_report(const std::vector<std::string> & json_paths, const report_options & opt) {
    if (json_paths.empty()) {
        fail("report", "no result files given");
    }
    if (opt.out_dir.empty()) {
        fail("report", "no output directory given");
    }
    std::vector<run> runs;
    for (const auto & path : json_paths) {
        runs.push_back(load_run(path));
    }
    if (!program_available(opt.gnuplot)) {
        fail("report", "cannot draw charts: '" + opt.gnuplot +
                           "' not found (install gnuplot: apt-get install gnuplot-nox, or pass --gnuplot PATH)");
    }
    std::vector<run *> train, conv, evals, with_stats;
    for (auto & r : runs) {
        try {
            r.label = run_label(r);
        } catch (const json::exception & e) {
            fail(r.path, std::string("a field has an unexpected type: ") + e.what());
        }
        (r.command == "convert" ? conv : r.command == "eval" ? evals : r.command == "stats" ? with_stats : train).push_back(&r);
    }
    std::set<std::string> slugs;
    name_runs(train, slugs);
    name_runs(conv, slugs);
    name_runs(evals, slugs);
    name_runs(with_stats, slugs);
    std::vector<run *> ops;
    for (run * r : evals) {
        if (r->j.contains("stats")) {
            ops.push_back(r);
        }
    }
    ops.insert(ops.end(), with_stats.begin(), with_stats.end());
    make_dirs(opt.out_dir);
    page p;
    p.opt = opt;
    p.style.gnuplot = opt.gnuplot;
    p.md = "# " + opt.title + "\n\nMade by `snnkit report` from:\n\n";
    for (const auto & r : runs) {
        p.md += "- `" + r.path + "` (" + r.command + "): " + r.label + "\n";
    }
    p.md += "\n";
    try {
        // each section's tables, then what made the runs in them
        training_section(p, train);
        p.md += provenance_lines(train);
        conversion_section(p, conv);
        p.md += provenance_lines(conv);
        eval_section(p, evals, with_stats, train);
        std::vector<run *> measured = evals;
        measured.insert(measured.end(), with_stats.begin(), with_stats.end());
        p.md += provenance_lines(measured);
        ops_section(p, ops);
        p.md += provenance_lines(ops);
    } catch (const json::exception & e) { // a field of an unexpected type that the checks above let through
        fail("report", std::string("a result file has a field of an unexpected type: ") + e.what());
    }
    report_result res;
    res.charts = p.charts;
    res.index = p.file("index.md");
    write_file_atomic(res.index, p.md);
    return res;
}

} // namespace snnkit
