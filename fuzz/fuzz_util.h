// fuzz/fuzz_util.h: helpers shared by the fuzz targets. The parsers take file and directory paths, so each
// target writes the input into a private scratch directory on tmpfs (/dev/shm when present).
#pragma once

#include "snnkit/core/error.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace snnkit_fuzz {

// A directory private to this process, created once.
inline const std::string & scratch_dir() {
    static const std::string dir = [] {
        std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        std::string tmpl = base + "/snnkit_fuzz_XXXXXX";
        if (!mkdtemp(tmpl.data())) std::abort();
        return tmpl;
    }();
    return dir;
}

inline std::string make_dir(const std::string & rel) {
    std::string p = scratch_dir();
    size_t start = 0;
    while (start <= rel.size()) {
        size_t slash = rel.find('/', start);
        if (slash == std::string::npos) slash = rel.size();
        p += "/" + rel.substr(start, slash - start);
        mkdir(p.c_str(), 0700);
        start = slash + 1;
    }
    return p;
}

// Writes n bytes to path (replacing it); aborts on I/O failure (a harness bug, not a parser bug).
inline void put_file(const std::string & path, const uint8_t * data, size_t n) {
    std::FILE * f = std::fopen(path.c_str(), "wb");
    if (!f || (n && std::fwrite(data, 1, n, f) != n) || std::fclose(f) != 0) std::abort();
}

// Runs fn; snnkit::error is the expected outcome for bad input, anything else escapes and crashes the run.
template <class F> void expect_clean(F && fn) {
    try {
        fn();
    } catch (const snnkit::error &) {
    }
}

} // namespace snnkit_fuzz
