// snnkit/core/provenance.h: what made a result: the library's build (version, git commit, dirty flag, build
// type, LibTorch), the run (command line, threads, date) and the identity of the data it read (dataset,
// split, images used, a hash of the files). Every result JSON that snnkit writes carries it as "provenance".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace snnkit {

struct build_info {
    /// snnkit's version (the CMake project version)
    std::string version;
    /// git commit the library was built from ("unknown" when built outside a git work tree)
    std::string git_commit;
    /// tracked files differed from that commit at build time
    bool git_dirty = false;
    /// CMake build type (Release, RelWithDebInfo, ...)
    std::string build_type;
    /// LibTorch version the library was compiled against
    std::string libtorch;
};

// The build of the library in this process.
build_info snnkit_build_info();

struct data_identity {
    /// dataset name (fmnist, cifar10, imagefolder, ...)
    std::string dataset;
    /// the directory (or file) the data was read from
    std::string path;
    /// which split and use, e.g. "train", "test", "train (calibration)"
    std::string split;
    /// images used
    int64_t images = 0;
    /// regular files under path (path itself when it is a file)
    int64_t files = 0;
    /// their total size in bytes
    int64_t bytes = 0;
    /// "fnv1a64:<16 hex>" over the files' relative paths, sizes and contents, sorted by path; over paths and
    /// sizes only ("fnv1a64-sizes:...") when they hold more than content_hash_limit bytes
    std::string hash;
};

/// above this many bytes a data identity hashes file names and sizes instead of contents
constexpr int64_t content_hash_limit = int64_t(2) << 30;

// The identity of the data under path (a directory, read recursively, or one file). Throws snnkit::error
// when path does not exist. Repeated calls for one path in a process reuse the first hash.
data_identity identify_data(const std::string & dataset, const std::string & path, const std::string & split,
                            int64_t images);

// The provenance object as JSON text: {"snnkit_version", "git_commit", "git_dirty", "build_type", "libtorch",
// "threads" (ATen's intra-op threads now), "command" (argv joined with spaces, each argument quoted where the
// shell would need it), "date" (UTC, ISO 8601), "data": [one object per data_identity]}.
std::string provenance_json(const std::vector<std::string> & argv, const std::vector<data_identity> & data);

} // namespace snnkit
