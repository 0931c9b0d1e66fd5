// snnkit/stats/report_runs.cpp: the result files of a report: loading and checks, labels, slugs.
#include "snnkit/stats/report_runs_internal.h"

#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

namespace snnkit {

namespace report_detail {

run load_run(const std::string & path) {
    run r;
    r.path = path;
    try {
        r.j = json::parse(read_file(path));
    } catch (const json::exception & e) {
        fail(path, std::string("not valid JSON: ") + e.what());
    }
    r.command = text(r.j, "command");
    static const std::set<std::string> known{"train-ann", "train-snn", "convert", "eval", "stats"};
    if (r.command.empty()) {
        fail(path, "no \"command\" field (expected the --json output of train-ann, train-snn, convert, eval or stats)");
    }
    if (!known.count(r.command)) {
        fail(path, "unknown command '" + r.command + "' (known: train-ann, train-snn, convert, eval, stats)");
    }
    // The structure the sections rely on (a hand-edited or foreign file fails here, naming itself).
    const auto is_array_of_numbers = [](const json & a) {
        if (!a.is_array() || a.empty()) {
            return false;
        }
        for (const auto & x : a) {
            if (!x.is_number() && !x.is_null()) {
                return false;
            }
        }
        return true;
    };
    if (r.command == "eval" && text(r.j, "kind", "snn") != "ann" &&
        !(r.j.contains("accuracy_per_t") && is_array_of_numbers(r.j["accuracy_per_t"]))) {
        fail(path, "\"accuracy_per_t\" must be a non-empty array of numbers");
    }
    if (r.command == "stats" && !r.j.contains("stats")) {
        fail(path, "no \"stats\" object");
    }
    if (r.j.contains("stats")) {
        const json & st = r.j["stats"];
        if (!st.is_object() || !st.contains("energy_pj_per_op") || !st["energy_pj_per_op"].is_object() ||
            !st.contains("totals") || !st["totals"].is_object()) {
            fail(path, "\"stats\" must be an object with \"energy_pj_per_op\" and \"totals\" objects");
        }
    }
    return r;
}

std::string fixed(double v, int digits) {
    if (!std::isfinite(v)) {
        return "";
    }
    char b[48];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}

std::string sci(double v) {
    if (!std::isfinite(v)) {
        return "";
    }
    char b[48];
    std::snprintf(b, sizeof b, "%.3g", v);
    return b;
}

double number(const json & j, const char * key) {
    return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
}

// Element k of array a as a number (NaN when it is not one: JSON writes NaN as null).
double element(const json & a, size_t k) {
    return a.is_array() && k < a.size() && a[k].is_number() ? a[k].get<double>() : NAN;
}

// j[key] as numbers (null -> NaN); empty when it is not an array.
std::vector<double> numbers_of(const json & j, const char * key) {
    std::vector<double> v;
    if (j.is_object() && j.contains(key) && j[key].is_array()) {
        for (size_t k = 0; k < j[key].size(); ++k) {
            v.push_back(element(j[key], k));
        }
    }
    return v;
}

std::string text(const json & j, const char * key, const std::string & fallback) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : fallback;
}

std::string base_name(std::string p) {
    while (p.size() > 1 && p.back() == '/') {
        p.pop_back();
    }
    return std::filesystem::path(p).filename().string();
}

namespace {

std::string slugify(const std::string & s) {
    std::string o;
    for (char c : s) {
        const bool ok = std::isalnum(static_cast<unsigned char>(c));
        if (ok || (!o.empty() && o.back() != '-')) {
            o += ok ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '-';
        }
    }
    while (!o.empty() && o.back() == '-') {
        o.pop_back();
    }
    return o.empty() ? "run" : o;
}

} // namespace

// "advanced calibration", "max threshold + bias shift", ... from convert's settings.
std::string describe_conversion(const json & c, const std::string & kind) {
    if (!c.is_object() || c.empty()) {
        return kind.empty() || kind == "snn" ? "trained SNN" : kind;
    }
    // The preset's name, then every method beyond it; a percentile threshold when no search replaced it.
    const std::string calib = text(c, "calib", "none");
    const bool light = calib == "light", advanced = calib == "advanced";
    std::string d = light || advanced ? calib + " calibration" : "";
    const struct {
        const char * key;
        const char * label;
        bool in_preset;
    } flags[] = {{"threshold_search", "threshold search", light || advanced},
                 {"bias_correction", "BC", light},
                 {"potential_correction", "PC", advanced},
                 {"weight_calibration", "WC", advanced}};
    for (const auto & f : flags) {
        if (c.value(f.key, false) && !f.in_preset) {
            d += (d.empty() ? "" : " + ") + std::string(f.label);
        }
    }
    // a QCFS model's thresholds are its trained lambdas (refined only by a threshold search)
    const bool qcfs = c.contains("qcfs") && c["qcfs"].is_object();
    const std::string threshold = qcfs ? "trained lambda" : text(c, "threshold", "max");
    if (!c.value("threshold_search", false) && (threshold != "max" || d.empty())) {
        d = threshold + " threshold" + (d.empty() ? "" : " + " + d);
    }
    d += c.value("bias_shift", false) ? " + bias shift" : "";
    d += c.value("half_init", false) ? " + half init" : "";
    d += c.value("channel_wise", false) ? ", channel-wise" : "";
    return d;
}

std::string run_label(const run & r) {
    if (r.command == "train-ann" || r.command == "train-snn") {
        return r.command + " " + text(r.j, "arch") + " (" + base_name(text(r.j, "model", r.path)) + ")";
    }
    if (r.command == "convert") {
        return base_name(text(r.j, "model", r.path)) + ": " + describe_conversion(r.j.value("conversion", json()), "");
    }
    if (text(r.j, "kind") == "ann") {
        return "ANN " + (r.j.contains("model") ? base_name(text(r.j, "model")) : text(r.j, "arch"));
    }
    if (r.j.contains("model") || r.j.contains("conversion")) {
        const std::string d = describe_conversion(r.j.value("conversion", json()), text(r.j, "kind"));
        return r.command == "stats" ? "stats: " + d : d;
    }
    return text(r.j, "arch", base_name(r.path)) + " (ANN)";
}

// Unique labels and file-name slugs within one list of runs.
void name_runs(std::vector<run *> & runs, std::set<std::string> & slugs) {
    std::map<std::string, int> seen;
    for (run * r : runs) {
        seen[r->label]++;
    }
    std::set<int64_t> Ts;
    for (run * r : runs) {
        if (r->j.contains("T") && r->j["T"].is_number_integer()) {
            Ts.insert(r->j["T"].get<int64_t>());
        }
    }
    for (run * r : runs) {
        if (seen[r->label] > 1 && r->j.contains("model")) {
            r->label += " [" + base_name(text(r->j, "model")) + "]";
        }
        if (Ts.size() > 1 && r->j.contains("T")) {
            r->label += ", T=" + std::to_string(r->j["T"].get<int64_t>());
        }
        std::string s = slugify(r->label);
        for (int k = 2; slugs.count(s); ++k) {
            s = slugify(r->label) + "-" + std::to_string(k);
        }
        slugs.insert(s);
        r->slug = s;
    }
}

// Whether an eval run of the same model and T is in `runs` (a stats run then repeats its figures).
bool shown_before(const std::vector<run *> & runs, const run * r) {
    return r->command == "stats" && std::any_of(runs.begin(), runs.end(), [&](const run * e) {
               return e->command == "eval" && text(e->j, "model") == text(r->j, "model") &&
                      e->j.value("T", 0) == r->j.value("T", 0);
           });
}

std::string provenance_lines(const std::vector<run *> & runs) {
    std::string md;
    for (const run * r : runs) {
        md += "- made by: " + r->label + ": ";
        if (!r->j.contains("provenance") || !r->j["provenance"].is_object()) {
            md += "no provenance recorded (a result of a snnkit older than provenance; see `scripts/stale_results.py`)\n";
            continue;
        }
        const json & p = r->j["provenance"];
        const std::string commit = text(p, "git_commit", "unknown");
        md += "snnkit " + text(p, "snnkit_version", "?") + " at commit `" + commit.substr(0, 12) + "`" +
              (p.value("git_dirty", false) ? " (with uncommitted changes)" : "") + ", " + text(p, "build_type", "?") +
              " build, LibTorch " + text(p, "libtorch", "?") + ", " + fixed(number(p, "threads"), 0) + " threads, " +
              text(p, "date", "?");
        if (p.contains("data") && p["data"].is_array()) {
            for (const json & d : p["data"]) {
                if (d.is_object()) {
                    md += "; data " + text(d, "dataset", "?") + " " + text(d, "split", "?") + ", " +
                          fixed(number(d, "images"), 0) + " images, " + text(d, "hash", "?");
                }
            }
        }
        md += "; command `" + text(p, "command", "?") + "`\n";
    }
    return md.empty() ? md : md + "\n";
}

} // namespace report_detail

} // namespace snnkit
