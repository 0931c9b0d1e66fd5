// snnkit/core/provenance.cpp
#include "snnkit/core/provenance.h"

#include "snnkit/core/error.h"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/api/include/torch/version.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

namespace snnkit {

namespace detail {
extern const char * const k_git_commit; // generated at build time (cmake/build_info.cmake)
extern const bool k_git_dirty;
} // namespace detail

namespace {

namespace fs = std::filesystem;

constexpr uint64_t fnv_offset = 1469598103934665603ull, fnv_prime = 1099511628211ull;

void fnv_bytes(uint64_t & h, const char * p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        h = (h ^ static_cast<unsigned char>(p[i])) * fnv_prime;
    }
}

void fnv_text(uint64_t & h, const std::string & s) {
    fnv_bytes(h, s.data(), s.size());
    fnv_bytes(h, "", 1); // separator: "ab" + "c" hashes unlike "a" + "bc"
}

struct file_hash {
    int64_t files = 0;
    int64_t bytes = 0;
    std::string hash;
};

file_hash hash_files(const std::string & path) {
    std::vector<std::pair<std::string, fs::path>> files; // relative name, full path
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
        files.emplace_back(fs::path(path).filename().string(), fs::path(path));
    } else if (fs::is_directory(path, ec)) {
        for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_regular_file(ec)) {
                files.emplace_back(fs::relative(it->path(), path).generic_string(), it->path());
            }
        }
    } else {
        fail(path, "no such file or directory (data identity)");
    }
    std::sort(files.begin(), files.end());
    file_hash r;
    std::vector<int64_t> sizes;
    for (const auto & f : files) {
        sizes.push_back(static_cast<int64_t>(fs::file_size(f.second, ec)));
        r.bytes += sizes.back();
    }
    r.files = static_cast<int64_t>(files.size());
    const bool contents = r.bytes <= content_hash_limit;
    uint64_t h = fnv_offset;
    std::vector<char> buf(size_t(1) << 20);
    for (size_t i = 0; i < files.size(); ++i) {
        fnv_text(h, files[i].first);
        fnv_text(h, std::to_string(sizes[i]));
        if (contents) {
            std::ifstream in(files[i].second, std::ios::binary);
            if (!in) {
                fail(files[i].second.string(), "cannot be read (data identity)");
            }
            while (in) {
                in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
                fnv_bytes(h, buf.data(), static_cast<size_t>(in.gcount()));
            }
        }
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    r.hash = std::string(contents ? "fnv1a64:" : "fnv1a64-sizes:") + hex;
    return r;
}

// An argument as a shell would need it written to mean the same: as is when it has no special characters.
std::string shell_word(const std::string & a) {
    if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_") ==
                          std::string::npos) {
        return a;
    }
    std::string q = "'";
    for (char c : a) {
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return q + "'";
}

} // namespace

build_info snnkit_build_info() {
    build_info b;
#ifdef SNNKIT_VERSION
    b.version = SNNKIT_VERSION;
#endif
#ifdef SNNKIT_BUILD_TYPE
    b.build_type = SNNKIT_BUILD_TYPE;
#endif
    b.git_commit = detail::k_git_commit;
    b.git_dirty = detail::k_git_dirty;
    b.libtorch = TORCH_VERSION;
    return b;
}

data_identity identify_data(const std::string & dataset, const std::string & path, const std::string & split,
                            int64_t images) {
    static std::mutex mu;
    static std::map<std::string, file_hash> cache; // a process hashes each path once (train and test splits)
    file_hash h;
    {
        std::lock_guard<std::mutex> lock(mu);
        auto it = cache.find(path);
        if (it == cache.end()) {
            it = cache.emplace(path, hash_files(path)).first;
        }
        h = it->second;
    }
    data_identity d;
    d.dataset = dataset;
    d.path = path;
    d.split = split;
    d.images = images;
    d.files = h.files;
    d.bytes = h.bytes;
    d.hash = h.hash;
    return d;
}

std::string provenance_json(const std::vector<std::string> & argv, const std::vector<data_identity> & data) {
    const build_info b = snnkit_build_info();
    std::string command;
    for (const std::string & a : argv) {
        command += (command.empty() ? "" : " ") + shell_word(a);
    }
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    nlohmann::json d = nlohmann::json::array();
    for (const data_identity & x : data) {
        d.push_back({{"dataset", x.dataset}, {"path", x.path}, {"split", x.split}, {"images", x.images},
                     {"files", x.files}, {"bytes", x.bytes}, {"hash", x.hash}});
    }
    return nlohmann::json({{"snnkit_version", b.version},
                           {"git_commit", b.git_commit},
                           {"git_dirty", b.git_dirty},
                           {"build_type", b.build_type},
                           {"libtorch", b.libtorch},
                           {"threads", at::get_num_threads()},
                           {"command", command},
                           {"date", date},
                           {"data", d}})
        .dump();
}

} // namespace snnkit
