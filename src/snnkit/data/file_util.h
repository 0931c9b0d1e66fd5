// snnkit/data/file_util.h: byte-level file helpers for the dataset loaders (internal).
//
// Whole-file reads with size limits, transparent gunzip (gzip detected by its magic bytes 1f 8b,
// whatever the file name), overflow-checked size arithmetic and directory checks. Every failure
// throws snnkit::error("<path>: <problem>").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace snnkit::detail {

/// Largest payload any loader accepts from a single file (16 GiB): refuses absurd headers up front.
constexpr uint64_t max_payload_bytes = uint64_t(1) << 34;

/// Deflate cannot compress better than about 1032:1, so a gzip file of n bytes inflates to at most
/// n * 1032 bytes (plus a little slack): a sound bound on the decompressed size before inflating it.
constexpr uint64_t max_gzip_ratio = 1040;

/// Size of a regular file in bytes; throws if it is missing, a directory or unreadable.
uint64_t file_size(const std::string & path);

/// True if `path` names an existing regular file / directory.
bool is_file(const std::string & path);
bool is_dir(const std::string & path);

/// Throws "<path>: <what> not found" / "is not a directory" unless `path` is a directory.
void require_dir(const std::string & path, const std::string & what = "directory");

/// a * b, throwing "<where>: <what> overflows" on 64-bit overflow.
uint64_t checked_mul(uint64_t a, uint64_t b, const std::string & where, const char * what = "size");

/// Reads a whole (raw) file; throws if it is larger than max_bytes.
std::vector<uint8_t> read_file(const std::string & path, uint64_t max_bytes = max_payload_bytes);

/// Sequential reader over a raw or gzipped file (gzip recognised by its magic bytes).
class byte_reader {
public:
    explicit byte_reader(const std::string & path);
    ~byte_reader();
    byte_reader(const byte_reader &) = delete;
    byte_reader & operator=(const byte_reader &) = delete;

    /// Reads up to n bytes into dst; returns how many were read (< n only at the end of the data).
    /// Throws on a corrupt gzip stream.
    uint64_t read(void * dst, uint64_t n);

    /// Reads exactly n bytes or throws "<path>: truncated: <what> ...".
    void read_exact(void * dst, uint64_t n, const char * what);

    /// Throws unless the data is exhausted ("<path>: <n>+ bytes of trailing data ...").
    void expect_end(const char * what);

    /// Upper bound on the (remaining) payload size: the file size for raw files, the deflate bound
    /// for gzipped ones, capped at max_payload_bytes. Check header sizes against it before allocating.
    uint64_t max_remaining() const;

    bool gzipped() const { return gzipped_; }
    const std::string & path() const { return path_; }

private:
    std::string path_;
    void * gz_ = nullptr;      // gzFile
    bool gzipped_ = false;
    uint64_t size_ = 0;        // file size on disk
    uint64_t consumed_ = 0;    // payload bytes returned so far
};

/// Reads a whole raw-or-gzipped file, refusing more than max_bytes of payload.
std::vector<uint8_t> read_maybe_gzip(const std::string & path, uint64_t max_bytes = max_payload_bytes);

/// gzip-compresses bytes (used by tests and tools that write fixtures).
std::vector<uint8_t> gzip_bytes(const uint8_t * data, size_t n, int level = 6);

/// Writes bytes to a file, throwing on failure.
void write_file(const std::string & path, const uint8_t * data, size_t n);

} // namespace snnkit::detail
