// src/cli/cli_util.cpp
#include "commands.h"

#include "snnkit/core/runtime.h"
#include "snnkit/io/atomic_file.h"

#include <cstdio>

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

} // namespace snnkit_cli
