// snnkit/stats/report_runs_internal.h: the result files `snnkit report` reads (used by report.cpp only;
// not installed): each file loaded with the structure checks the report's sections rely on, field accessors that read a missing
// or null field as empty / NaN, number formatting, and each run's label and file-name slug.
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

namespace snnkit {

namespace report_detail {

using json = nlohmann::json;

// One result file: its path, "command" field, label on the page, slug for chart file names, contents.
struct run {
    std::string path, command, label, slug;
    json j;
};

// Parses the file and checks its "command" and the structure the sections rely on; throws snnkit::error
// naming the file.
run load_run(const std::string & path);

// One Markdown line per run: what made it (its "provenance": git commit and dirty flag, build, LibTorch,
// threads, date, data, command), or that the file records none (made before snnkit wrote provenance).
std::string provenance_lines(const std::vector<run *> & runs);

// v with `digits` decimals / 3 significant digits; "" for NaN and infinities.
std::string fixed(double v, int digits);
std::string sci(double v);

// j[key] as a number (NaN when missing or not a number).
double number(const json & j, const char * key);

// Element k of array a as a number (NaN when it is not one: JSON writes NaN as null).
double element(const json & a, size_t k);

// j[key] as numbers (null -> NaN); empty when it is not an array.
std::vector<double> numbers_of(const json & j, const char * key);

// j[key] as a string, or fallback.
std::string text(const json & j, const char * key, const std::string & fallback = "");

// The last component of a path (trailing slashes ignored).
std::string base_name(std::string p);

// "advanced calibration", "max threshold + bias shift", ... from convert's settings.
std::string describe_conversion(const json & c, const std::string & kind);

// The run's label on the page (architecture, model folder, conversion settings).
std::string run_label(const run & r);

// Unique labels and file-name slugs within one list of runs (slugs: all taken so far, updated).
void name_runs(std::vector<run *> & runs, std::set<std::string> & slugs);

// Whether an eval run of the same model and T is in `runs` (a stats run then repeats its figures).
bool shown_before(const std::vector<run *> & runs, const run * r);

} // namespace report_detail

} // namespace snnkit
