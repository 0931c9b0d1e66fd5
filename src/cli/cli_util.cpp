// src/cli/cli_util.cpp
#include "commands.h"

#include "snnkit/io/atomic_file.h"

#include <ATen/Parallel.h>

#include <cstdio>
#include <thread>

namespace snnkit_cli {

void set_threads(int threads) {
    const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(n);
}

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
