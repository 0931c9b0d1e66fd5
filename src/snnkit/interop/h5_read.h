// snnkit/interop/h5_read.h: reading HDF5 files (NIR) safely. HDF5's C library is not safe on damaged
// input (Debian's 1.10.8 crashes in H5HG_read on a corrupt variable-length string reference, found by
// fuzzing), so the file is read in a child process (core/isolate.h) into an in-memory snapshot of its
// groups and datasets; the caller only ever sees the snapshot. A crash of the library becomes one error
// line naming the file.
//
// The snapshot holds groups, string datasets (variable- or fixed-length) and numeric datasets (integers
// as int64, floats as double), reached through hard links from "/" (at most 64 levels and 200,000
// objects). A dataset that cannot be read keeps its error, raised only when it is asked for, so damage in
// a part of the file the reader never uses does not stop it.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace snnkit {

class h5_snapshot {
public:
    // Reads the whole file at `path` (throws snnkit::error naming the file on failure).
    static h5_snapshot load(const std::string & path);

    bool exists(const std::string & path) const;
    bool is_group(const std::string & path) const;
    std::vector<std::string> children(const std::string & path) const; // names of a group's members, sorted
    std::string read_string(const std::string & path) const;
    std::vector<std::pair<std::string, std::string>> read_string_pairs(const std::string & path) const;
    at::Tensor read_floats(const std::string & path) const; // any numeric dataset -> float32 tensor
    std::vector<int64_t> read_ints(const std::string & path) const; // any numeric dataset, flattened

    const std::string & name() const { return name_; }

    /// One object of the file.
    struct entry {
        enum kind_t : uint8_t { group = 1, strings = 2, ints = 3, floats = 4, bad = 5 } kind = group;
        /// dataset dims (empty for a scalar)
        std::vector<int64_t> dims;
        std::vector<std::string> text;  ///< strings (kind strings), or the error (kind bad)
        std::vector<int64_t> ivals;     ///< kind ints
        std::vector<double> fvals;      ///< kind floats
    };

private:
    const entry & dataset(const std::string & path) const;
    [[noreturn]] void fail_at(const std::string & path, const std::string & problem) const;
    std::string name_;
    std::map<std::string, entry> objects_; // absolute path ("/node/type") -> object; "/" is the root group
};

} // namespace snnkit
