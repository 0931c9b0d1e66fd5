// snnkit/interop/h5_io.h: writing the small part of HDF5 (C library) that NIR files need: groups, numeric
// arrays (float32 / int64, any rank, 0-d scalars included) and variable-length UTF-8 strings (scalar or
// [n, 2]). Reading is h5_read.h (in a child process: the library is not safe on damaged files).
//
// Files are built in memory (HDF5's core driver) and written with snnkit::write_file_atomic. HDF5's own
// error printing is off: every failure throws snnkit::error naming the file and the object path.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace snnkit {

class h5_file {
public:
    // An empty in-memory file.
    static h5_file create();
    ~h5_file();
    h5_file(h5_file &&) noexcept;
    h5_file & operator=(h5_file &&) = delete;
    h5_file(const h5_file &) = delete;

    // paths are absolute within the file ("/node/nodes/conv1")
    void group(const std::string & path);
    void write_string(const std::string & path, const std::string & s);
    void write_string_pairs(const std::string & path, const std::vector<std::pair<std::string, std::string>> & v);
    void write_floats(const std::string & path, const at::Tensor & t); // stored as float32, t's shape
    void write_ints(const std::string & path, const std::vector<int64_t> & v, bool scalar = false);
    // Flushes and writes the file image to `dest` atomically.
    void save(const std::string & dest);

    const std::string & name() const { return name_; }

private:
    h5_file(int64_t id, std::string name);
    [[noreturn]] void fail_at(const std::string & path, const std::string & problem) const;
    int64_t id_ = -1;
    std::string name_;
};

} // namespace snnkit
