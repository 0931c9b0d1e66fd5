// The report: every kind of result file gives its charts (real PNGs of the expected size, drawn by
// gnuplot) and its numbers in index.md; bad input and a missing gnuplot give one clear error.
#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/stats/gnuplot.h"
#include "snnkit/stats/report.h"
#include "snnkit/stats/report_runs_internal.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

using namespace snnkit;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string & name) {
    const fs::path d = fs::path(SNNKIT_BINARY_DIR) / "tmp_report_test" / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::string write_json(const fs::path & dir, const std::string & name, const nlohmann::json & j) {
    const std::string p = (dir / name).string();
    write_file_atomic(p, j.dump(1));
    return p;
}

// Width and height from a PNG's IHDR chunk (0, 0 when the file is not a PNG).
std::pair<uint32_t, uint32_t> png_size(const std::string & path) {
    const std::string b = read_file(path);
    if (b.size() < 24 || b.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0 || b.compare(12, 4, "IHDR") != 0) {
        return {0, 0};
    }
    auto be32 = [&](size_t o) {
        return (uint32_t(uint8_t(b[o])) << 24) | (uint32_t(uint8_t(b[o + 1])) << 16) | (uint32_t(uint8_t(b[o + 2])) << 8) |
               uint32_t(uint8_t(b[o + 3]));
    };
    return {be32(16), be32(20)};
}

nlohmann::json eval_json(const std::string & calib, bool bias_shift, std::vector<double> acc) {
    return {{"command", "eval"},
            {"model", "runs/snn_" + calib},
            {"kind", "snn-converted"},
            {"T", acc.size()},
            {"samples", 1000},
            {"accuracy", acc.back()},
            {"accuracy_per_t", acc},
            {"ann_accuracy", 91.25},
            {"conversion", {{"T", acc.size()}, {"calib", calib}, {"threshold", "max"}, {"bias_shift", bias_shift}}},
            {"layers",
             {{{"layer", "conv1.relu"}, {"firing_rate", 0.125}, {"conversion_mse", 0.0031}},
              {{"layer", "fc1.relu"}, {"firing_rate", 0.0625}, {"conversion_mse", 0.0123}}}}};
}

} // namespace

TEST(Report, EveryResultKindGivesChartsAndTables) {
    if (!program_available("gnuplot")) {
        GTEST_SKIP() << "gnuplot is not installed";
    }
    const fs::path d = fresh_dir("all");
    std::vector<std::string> in;
    in.push_back(write_json(d, "ann.json",
                            {{"command", "train-ann"}, {"arch", "cnn"}, {"dataset", "fmnist"}, {"epochs", 2}, {"model", "runs/ann"},
                             {"test_accuracy", 91.25}, {"train_seconds", 40.5},
                             {"history",
                              {{{"epoch", 1}, {"train_loss", 0.51}, {"train_accuracy", 81.5}, {"test_accuracy", 87.07}, {"lr", 0.05}, {"seconds", 20}},
                               {{"epoch", 2}, {"train_loss", 0.33}, {"train_accuracy", 88.1}, {"test_accuracy", 91.25}, {"lr", 0.0}, {"seconds", 20.5}}}}}));
    in.push_back(std::string(SNNKIT_SOURCE_DIR) + "/tests/stats/fixtures/train_snn_dspike.json");
    in.push_back(write_json(d, "conv.json",
                            {{"command", "convert"}, {"model", "runs/snn_light"}, {"calibration_seconds", 3.5},
                             {"conversion", {{"T", 4}, {"calib", "light"}, {"threshold", "max"}}},
                             {"calibration", {{{"layer", "conv1.relu"}, {"v_th_before", 5.5}, {"v_th_after", 1.4613}, {"mse_before", 0.0054}, {"mse_after", 0.0036}}}}}));
    in.push_back(write_json(d, "e1.json", eval_json("none", false, {10.0, 10.0, 35.5, 70.25})));
    in.push_back(write_json(d, "e2.json", eval_json("none", true, {10.0, 20.0, 60.0, 83.44})));
    nlohmann::json e3 = eval_json("light", false, {13.83, 80.0, 88.0, 90.5});
    e3["stats"] = {{"kind", "snn"}, {"T", 4}, {"images", 1000}, {"energy_pj_per_op", {{"ac", 0.9}, {"mac", 4.6}}},
                   {"layers", {{{"layer", "conv1"}, {"op", "conv2d"}, {"source", "input"}, {"input", "analog"}, {"sops", 0}, {"snn_macs", 112896},
                                {"ann_macs", 112896}, {"snn_energy_pj", 519321.6}, {"ann_energy_pj", 519321.6}},
                               {{"layer", "fc1"}, {"op", "linear"}, {"source", "conv1.relu"}, {"input", "spikes"}, {"input_rate", 0.125},
                                {"sops", 1785000}, {"snn_macs", 0}, {"ann_macs", 802816}, {"snn_energy_pj", 1606500}, {"ann_energy_pj", 3692953.6}}}},
                   {"totals", {{"sops", 1785000}, {"snn_macs", 112896}, {"ann_macs", 915712}, {"firing_rate", 0.1}, {"snn_energy_pj", 2125821.6},
                               {"ann_energy_pj", 4212275.2}, {"ann_to_snn_energy", 1.98}}}};
    in.push_back(write_json(d, "e3.json", e3));
    report_options o;
    o.out_dir = (d / "out").string();
    const report_result r = write_report(in, o);
    const std::vector<std::string> want{"training_train-ann-cnn-ann.png", "training_train-snn-cnn-fixture-snn.png",
                                        "dspike_train-snn-cnn-fixture-snn.png", "calibration_snn-light-light-calibration.png",
                                        "accuracy_vs_t.png", "firing_rate.png", "conversion_error.png", "operations.png", "energy.png"};
    ASSERT_EQ(r.charts.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(fs::path(r.charts[i]).filename().string(), want[i]);
        const auto wh = png_size(r.charts[i]);
        EXPECT_GE(wh.first, 700u) << r.charts[i];
        EXPECT_GE(wh.second, 400u) << r.charts[i];
    }
    EXPECT_EQ(png_size(d / "out" / "dspike_train-snn-cnn-fixture-snn.png").first, 2u * 720u); // two panels
    const std::string md = read_file(r.index);
    for (const char * s : {"![SNN accuracy vs t](accuracy_vs_t.png)", "| max threshold | 1000 | 10.00 % | 10.00 % | 70.25 % | 91.25 % |",
                           "| max threshold + bias shift |", "| conv1.relu | 0.1250 | 0.1250 | 0.1250 |", "1.4613", "1.785 M", "1.98x",
                           "| 2 | 0.3300 | 88.10 | 91.25 |", "cos(b+db)", "![training curves, train-ann cnn (ann)]"}) {
        EXPECT_NE(md.find(s), std::string::npos) << "index.md lacks: " << s << "\n" << md;
    }
    for (const auto & f : fs::directory_iterator(d / "out")) {
        EXPECT_EQ(f.path().string().find(".tmp"), std::string::npos) << "leftover " << f.path();
    }
}

// Accuracy against latency: one line per (source ANN, method), a calibrated conversion giving its own T's point
// (the last of its accuracy_per_t), an uncalibrated one every power-of-two t of its one simulation.
TEST(Report, AccuracyAgainstLatencyHasOneLinePerSourceAndMethod) {
    if (!program_available("gnuplot")) {
        GTEST_SKIP() << "gnuplot is not installed";
    }
    const fs::path d = fresh_dir("latency");
    std::vector<std::string> in;
    in.push_back(write_json(d, "relu4.json", eval_json("advanced", false, {50.0, 60.0, 70.0, 81.5})));
    in.push_back(write_json(d, "relu8.json", eval_json("advanced", false, {40.0, 50.0, 60.0, 70.0, 80.0, 84.0, 86.0, 88.25})));
    nlohmann::json q4 = eval_json("light", false, {85.0, 87.0, 89.0, 90.75});
    q4["conversion"]["qcfs"] = {{"levels", 4}, {"lambda", "keep"}};
    q4["conversion"]["half_init"] = true;
    nlohmann::json q0 = eval_json("none", false, {70.0, 86.5, 88.0, 89.5, 89.75, 90.0, 90.0, 90.0});
    q0["conversion"]["qcfs"] = {{"levels", 4}, {"lambda", "keep"}};
    q0["conversion"]["half_init"] = true;
    in.push_back(write_json(d, "q4.json", q4));
    in.push_back(write_json(d, "q0.json", q0));
    report_options o;
    o.out_dir = (d / "out").string();
    const report_result r = write_report(in, o);
    EXPECT_NE(std::find_if(r.charts.begin(), r.charts.end(),
                           [](const std::string & c) { return fs::path(c).filename() == "accuracy_vs_latency.png"; }),
              r.charts.end());
    EXPECT_GE(png_size((d / "out" / "accuracy_vs_latency.png").string()).first, 700u);
    const std::string md = read_file(r.index);
    for (const char * s : {"| source ANN: conversion | T=1 | T=2 | T=4 | T=8 |",
                           "| QCFS ANN (L = 4): trained lambda threshold + light calibration + half init |  |  | 90.75 % |  |",
                           "| QCFS ANN (L = 4): trained lambda threshold + half init | 70.00 % | 86.50 % | 89.50 % | 90.00 % |",
                           "| ReLU ANN: advanced calibration |  |  | 81.50 % | 88.25 % |"}) {
        EXPECT_NE(md.find(s), std::string::npos) << "index.md lacks: " << s << "\n" << md;
    }
    // one conversion T only: no latency chart (the per-t chart says it all)
    const fs::path d1 = fresh_dir("latency_one_t");
    report_options o1;
    o1.out_dir = (d1 / "out").string();
    const report_result r1 = write_report({write_json(d1, "a.json", eval_json("light", false, {1, 2, 3, 4}))}, o1);
    EXPECT_EQ(read_file(r1.index).find("against latency"), std::string::npos);
}

TEST(Report, Errors) {
    const fs::path d = fresh_dir("errors");
    report_options o;
    o.out_dir = (d / "out").string();
    auto error_of = [&](const std::vector<std::string> & in, const report_options & opt) -> std::string {
        try {
            write_report(in, opt);
        } catch (const snnkit::error & e) {
            return e.what();
        }
        return "";
    };
    const std::string unknown = write_json(d, "u.json", {{"command", "frobnicate"}});
    EXPECT_NE(error_of({unknown}, o).find("u.json: unknown command 'frobnicate'"), std::string::npos);
    const std::string none = write_json(d, "n.json", {{"accuracy", 3}});
    EXPECT_NE(error_of({none}, o).find("n.json: no \"command\" field"), std::string::npos);
    // Structure the report relies on, checked per file (a hand-edited file fails naming itself).
    const std::string acc = write_json(d, "acc.json", {{"command", "eval"}, {"accuracy_per_t", "high"}});
    EXPECT_NE(error_of({acc}, o).find("acc.json: \"accuracy_per_t\" must be a non-empty array of numbers"),
              std::string::npos);
    const std::string nostats = write_json(d, "ns.json", {{"command", "stats"}, {"T", 4}});
    EXPECT_NE(error_of({nostats}, o).find("ns.json: no \"stats\" object"), std::string::npos);
    const std::string badstats = write_json(d, "bs.json", {{"command", "stats"}, {"stats", {{"totals", 1}}}});
    EXPECT_NE(error_of({badstats}, o).find("bs.json: \"stats\" must be an object"), std::string::npos);
    write_file_atomic((d / "bad.json").string(), "{not json");
    EXPECT_NE(error_of({(d / "bad.json").string()}, o).find("bad.json: not valid JSON"), std::string::npos);
    EXPECT_NE(error_of({(d / "missing.json").string()}, o).find("missing.json"), std::string::npos);
    report_options no_gp = o;
    no_gp.gnuplot = (d / "no-such-gnuplot").string();
    const std::string ok = write_json(d, "e.json", eval_json("none", false, {10.0, 50.0}));
    const std::string msg = error_of({ok}, no_gp);
    EXPECT_NE(msg.find("gnuplot"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(d / "out" / "index.md"));
    if (program_available("gnuplot")) { // a script error names the line
        try {
            run_gnuplot("gnuplot", "set terminal pngcairo\nset output '/dev/null'\nplot $nosuchblock using 1:2\n", "chart.png");
            ADD_FAILURE() << "no error";
        } catch (const snnkit::error & e) {
            EXPECT_NE(std::string(e.what()).find("chart.png: gnuplot failed"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
        }
    }
}

// Names from model files reach gnuplot scripts: a newline must not end a string or a data block early
// (the next line would run as a gnuplot command).
TEST(Report, GnuplotQuotingKeepsNamesOnOneLine) {
    EXPECT_EQ(gp_quote("it's"), "'it''s'");
    EXPECT_EQ(gp_quote("a\nb\rc"), "'a b c'");
    const std::string block = gp_datablock("d", {{"x\nEOD\nsystem('touch /tmp/p')", "1.5"}, {"y", "2"}});
    EXPECT_EQ(std::count(block.begin(), block.end(), '\n'), 4) << block; // header, 2 rows, EOD
    EXPECT_EQ(block.find("\nEOD\nsystem"), std::string::npos) << block;
}

// A run's label names its preset and every method beyond it, and a percentile threshold that no search
// replaced (convert's JSON "conversion" settings).
TEST(report, conversion_labels_name_the_preset_and_what_goes_beyond_it) {
    using nlohmann::json;
    using report_detail::describe_conversion;
    EXPECT_EQ(describe_conversion(json{{"threshold", "max"}, {"calib", "none"}}, ""), "max threshold");
    EXPECT_EQ(describe_conversion(json{{"threshold", "max"}, {"calib", "light"}, {"threshold_search", true},
                                       {"bias_correction", true}, {"potential_correction", true}},
                                  ""),
              "light calibration + PC");
    EXPECT_EQ(describe_conversion(json{{"threshold", "max"}, {"calib", "advanced"}, {"threshold_search", true},
                                       {"weight_calibration", true}, {"potential_correction", true},
                                       {"bias_shift", true}},
                                  ""),
              "advanced calibration + bias shift");
    EXPECT_EQ(describe_conversion(json{{"threshold", "p99.9"}, {"calib", "none"}, {"bias_correction", true}}, ""),
              "p99.9 threshold + BC");
    EXPECT_EQ(describe_conversion(json{{"threshold", "search"}, {"calib", "none"}, {"threshold_search", true}}, ""),
              "threshold search");
    EXPECT_EQ(describe_conversion(json(), "snn"), "trained SNN");
}
