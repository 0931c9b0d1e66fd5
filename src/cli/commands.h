// src/cli/commands.h: each subcommand of the `snnkit` command lives in its own cmd_*.cpp file.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "snnkit/core/runtime.h"
#include "snnkit/io/model_meta.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace snnkit_cli {

// Each cmd_*.cpp registers its subcommand with one file-scope line, so adding a command touches no
// other file:   static const snnkit_cli::command_registration reg(30, "eval", add_eval);
// `order` sets the position in --help (lower first).
using add_command_fn = void (*)(CLI::App & app);

struct command_registration {
    command_registration(int order, const char * name, add_command_fn add);
};

// Adds every registered subcommand to the app, in order (main.cpp).
void add_all_commands(CLI::App & app);

// Shared helpers (cli_util.cpp).
// snnkit::runtime_init: 0 = all cores; memory: reuse for training, bounded for the memory-budgeted commands
void set_threads(int threads, snnkit::runtime_memory memory = snnkit::runtime_memory::reuse);
// The command line as given (main.cpp), for the provenance of results.
void set_command_line(int argc, char ** argv);
// A dataset split a result was computed on: --dataset, --data (empty: the dataset's default directory), which
// split and use ("train", "test", "train (calibration)", ...) and how many images.
struct data_used {
    std::string dataset, dir, split;
    int64_t images = 0;
};
// Writes result (a JSON object) with its "provenance" (snnkit::provenance_json: build, git commit, command
// line, threads, date, and the identity of each data_used, hashed here); atomic; "-" = stdout; "" = nothing.
void write_json_file(const std::string & path, nlohmann::json result, const std::vector<data_used> & data = {});
// Where a command's human-readable text goes: stderr when its JSON goes to stdout (--json -), so that
// stdout then holds the JSON alone; stdout otherwise.
std::FILE * human_out(const std::string & json_path);
// A model's metadata as JSON (snnkit::model_meta_to_json), for results that quote it.
nlohmann::json meta_json(const snnkit::model_meta & m);

// --memory-budget MiB (convert, eval, stats): the one rule of snnkit/nn/snn_batch.h; `mib` holds the default.
CLI::Option * add_memory_budget_option(CLI::App * s, int64_t & mib);

// Option checks: the value must be a finite number > 0 (positive) or >= 0 (non_negative); a bad value
// fails at parse time with "--flag: must be a finite number > 0, got X", before any work starts.
const CLI::Validator & positive();
const CLI::Validator & non_negative();

// Flags that would change nothing are refused, not ignored: when `in_effect` is false, the first of `flags`
// given on the command line fails with "FLAG: WHY" (e.g. "--e-ac: has an effect only with --stats").
void refuse_unused_flags(const CLI::App & s, std::initializer_list<const char *> flags, bool in_effect,
                         const std::string & why);

} // namespace snnkit_cli
