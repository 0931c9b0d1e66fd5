// src/cli/cli_util.cpp
#include "commands.h"

#include "snnkit/core/runtime.h"
#include "snnkit/io/atomic_file.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace snnkit_cli {

void set_threads(int threads) { snnkit::runtime_init(threads); }

void write_json_file(const std::string & path, const std::string & json_text) {
    if (path.empty()) {
        return;
    }
    if (path == "-") {
        std::printf("%s\n", json_text.c_str());
        return;
    }
    snnkit::write_file_atomic(path, json_text + "\n");
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

} // namespace snnkit_cli
