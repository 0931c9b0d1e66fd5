// src/cli/commands.h: each subcommand of the `snnkit` command lives in its own cmd_*.cpp file.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>

#include <string>

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
void set_threads(int threads); // snnkit::runtime_init: 0 = all cores, malloc tuned for reuse
void write_json_file(const std::string & path, const std::string & json_text); // atomic; "-" = stdout
// Where a command's human-readable text goes: stderr when its JSON goes to stdout (--json -), so that
// stdout then holds the JSON alone; stdout otherwise.
std::FILE * human_out(const std::string & json_path);

// Option checks: the value must be a finite number > 0 (positive) or >= 0 (non_negative); a bad value
// fails at parse time with "--flag: must be a finite number > 0, got X", before any work starts.
const CLI::Validator & positive();
const CLI::Validator & non_negative();

// Flags that would change nothing are refused, not ignored: when `in_effect` is false, the first of `flags`
// given on the command line fails with "FLAG: WHY" (e.g. "--e-ac: has an effect only with --stats").
void refuse_unused_flags(const CLI::App & s, std::initializer_list<const char *> flags, bool in_effect,
                         const std::string & why);

} // namespace snnkit_cli
