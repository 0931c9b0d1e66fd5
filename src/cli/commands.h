// src/cli/commands.h: each subcommand of the `snnkit` command lives in its own cmd_*.cpp file.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace snnkit_cli {

// Registers a subcommand on the app; its callback runs the command.
void add_train_ann(CLI::App & app);
void add_info(CLI::App & app);
void add_convert(CLI::App & app);
void add_eval(CLI::App & app);

// Shared helpers (cli_util.cpp).
void set_threads(int threads); // snnkit::runtime_init: 0 = all cores, malloc tuned for reuse
void write_json_file(const std::string & path, const std::string & json_text); // atomic; "-" = stdout

} // namespace snnkit_cli
