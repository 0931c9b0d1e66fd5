// src/cli/cli_util.cpp
#include "commands.h"

#include "snnkit/core/error.h"
#include "snnkit/core/provenance.h"
#include "snnkit/data/dataset_by_name.h"
#include "snnkit/core/runtime.h"
#include "snnkit/io/atomic_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace snnkit_cli {

void set_threads(int threads, snnkit::runtime_memory memory) { snnkit::runtime_init(threads, memory); }

namespace {
std::vector<std::string> & command_line() {
    static std::vector<std::string> argv;
    return argv;
}
} // namespace

void set_command_line(int argc, char ** argv) { command_line().assign(argv, argv + argc); }

nlohmann::json meta_json(const snnkit::model_meta & m) { return nlohmann::json::parse(snnkit::model_meta_to_json(m)); }

void write_json_file(const std::string & path, nlohmann::json result, const std::vector<data_used> & data) {
    if (path.empty()) {
        return;
    }
    std::vector<snnkit::data_identity> ids;
    for (const data_used & d : data) {
        snnkit::dataset_spec spec;
        spec.name = d.dataset;
        spec.dir = d.dir;
        ids.push_back(snnkit::identify_data(d.dataset, snnkit::dataset_dir(spec), d.split, d.images));
    }
    result["provenance"] = nlohmann::json::parse(snnkit::provenance_json(command_line(), ids));
    const std::string json_text = result.dump(2);
    if (path == "-") {
        std::printf("%s\n", json_text.c_str());
        return;
    }
    snnkit::write_file_atomic(path, json_text + "\n");
}

std::FILE * human_out(const std::string & json_path) { return json_path == "-" ? stderr : stdout; }

namespace {

CLI::Validator number_check(bool allow_zero) {
    return CLI::Validator(
        [allow_zero](std::string & text) -> std::string {
            double v = 0;
            try {
                size_t used = 0;
                v = std::stod(text, &used);
                if (used != text.size()) {
                    return "'" + text + "' is not a number";
                }
            } catch (const std::exception &) {
                return "'" + text + "' is not a number";
            }
            if (!std::isfinite(v) || (allow_zero ? v < 0 : v <= 0)) {
                return std::string("must be a finite number ") + (allow_zero ? ">= 0" : "> 0") + ", got " + text;
            }
            return std::string();
        },
        allow_zero ? "NUMBER >= 0" : "NUMBER > 0");
}

} // namespace

const CLI::Validator & positive() {
    static const CLI::Validator v = number_check(false);
    return v;
}

const CLI::Validator & non_negative() {
    static const CLI::Validator v = number_check(true);
    return v;
}

void refuse_unused_flags(const CLI::App & s, std::initializer_list<const char *> flags, bool in_effect,
                         const std::string & why) {
    if (in_effect) {
        return;
    }
    for (const char * f : flags) {
        if (s.count(f) > 0) {
            snnkit::fail(f, why);
        }
    }
}

namespace {

struct registered_command {
    int order;
    std::string name;
    add_command_fn add;
};

// Function-local, so registrations from other files' static initialisers always find it constructed.
std::vector<registered_command> & command_table() {
    static std::vector<registered_command> table;
    return table;
}

} // namespace

command_registration::command_registration(int order, const char * name, add_command_fn add) {
    command_table().push_back({order, name, add});
}

void add_all_commands(CLI::App & app) {
    std::vector<registered_command> t = command_table();
    std::stable_sort(t.begin(), t.end(), [](const registered_command & a, const registered_command & b) {
        return a.order != b.order ? a.order < b.order : a.name < b.name;
    });
    for (const auto & c : t) {
        c.add(app);
    }
}

CLI::Option * add_memory_budget_option(CLI::App * s, int64_t & mib) {
    return s->add_option("--memory-budget", mib,
                         "Memory budget (MiB) of a simulation's working set: one activation tensor over T steps takes "
                         "at most 1/8 of it (calibration's chunks, eval's and stats' auto batches; calibration's WC "
                         "sample 1/16)")
        ->check(positive())
        ->capture_default_str();
}

} // namespace snnkit_cli
