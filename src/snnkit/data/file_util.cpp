// snnkit/data/file_util.cpp: whole-file reads, transparent gunzip and size checks for the loaders.
#include "snnkit/data/file_util.h"

#include "snnkit/core/error.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace fs = std::filesystem;

namespace snnkit::detail {

namespace {

std::string errno_text() { return std::strerror(errno); }

// Closes a FILE* on scope exit.
struct file_closer {
    void operator()(std::FILE * f) const { if (f) std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

file_ptr open_file(const std::string & path, const char * mode) {
    std::FILE * f = std::fopen(path.c_str(), mode);
    if (!f) fail(path, std::string("cannot open: ") + errno_text());
    return file_ptr(f);
}

std::string human_bytes(uint64_t n) { return std::to_string(n) + " bytes"; }

} // namespace

bool is_file(const std::string & path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec);
}

bool is_dir(const std::string & path) {
    std::error_code ec;
    return fs::is_directory(path, ec);
}

void require_dir(const std::string & path, const std::string & what) {
    std::error_code ec;
    auto st = fs::status(path, ec);
    if (!fs::exists(st)) fail(path, what + " not found");
    if (!fs::is_directory(st)) fail(path, "is not a directory");
}

uint64_t file_size(const std::string & path) {
    std::error_code ec;
    auto st = fs::status(path, ec);
    if (!fs::exists(st)) fail(path, "file not found");
    if (fs::is_directory(st)) fail(path, "is a directory, expected a file");
    uint64_t n = fs::file_size(path, ec);
    if (ec) fail(path, "cannot read file size: " + ec.message());
    return n;
}

uint64_t checked_mul(uint64_t a, uint64_t b, const std::string & where, const char * what) {
    if (a != 0 && b > UINT64_MAX / a) fail(where, std::string(what) + " overflows 64 bits");
    return a * b;
}

std::vector<uint8_t> read_file(const std::string & path, uint64_t max_bytes) {
    uint64_t n = file_size(path);
    if (n > max_bytes) fail(path, "file too large (" + human_bytes(n) + ", limit " + human_bytes(max_bytes) + ")");
    file_ptr f = open_file(path, "rb");
    std::vector<uint8_t> buf(n);
    if (n && std::fread(buf.data(), 1, n, f.get()) != n) fail(path, "read error: " + errno_text());
    return buf;
}

// ---------------------------------------------------------------------------------------------------
// byte_reader: zlib's gz* API reads gzip streams (including concatenated members) and passes other
// files through unchanged; we sniff the magic ourselves to know which bound applies.

byte_reader::byte_reader(const std::string & path) : path_(path) {
    size_ = file_size(path);
    {
        file_ptr f = open_file(path, "rb");
        unsigned char magic[2] = {0, 0};
        size_t got = std::fread(magic, 1, 2, f.get());
        gzipped_ = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }
    gzFile gz = gzopen(path.c_str(), "rb");
    if (!gz) fail(path, "cannot open: " + errno_text());
    gzbuffer(gz, 1 << 18);
    gz_ = gz;
}

byte_reader::~byte_reader() {
    if (gz_) gzclose(static_cast<gzFile>(gz_));
}

uint64_t byte_reader::read(void * dst, uint64_t n) {
    gzFile gz = static_cast<gzFile>(gz_);
    auto * out = static_cast<unsigned char *>(dst);
    uint64_t total = 0;
    while (total < n) {
        unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - total, 1u << 30));
        int got = gzread(gz, out + total, chunk);
        if (got < 0) {
            int errnum = 0;
            const char * msg = gzerror(gz, &errnum);
            fail(path_, std::string("corrupt gzip data: ") + (msg ? msg : "unknown zlib error"));
        }
        if (got == 0) {
            // gzread reports a truncated gzip stream through gzerror rather than its return value.
            int errnum = 0;
            const char * msg = gzerror(gz, &errnum);
            if (errnum == Z_BUF_ERROR) fail(path_, "truncated gzip stream (unexpected end of file)");
            if (errnum != Z_OK && errnum != Z_STREAM_END)
                fail(path_, std::string("corrupt gzip data: ") + (msg ? msg : "unknown zlib error"));
            break;
        }
        total += static_cast<uint64_t>(got);
    }
    consumed_ += total;
    return total;
}

void byte_reader::read_exact(void * dst, uint64_t n, const char * what) {
    uint64_t got = read(dst, n);
    if (got != n)
        fail(path_, std::string("truncated: ") + what + " needs " + human_bytes(n) + ", only " +
                        human_bytes(got) + " present");
}

void byte_reader::expect_end(const char * what) {
    unsigned char probe[4096];
    uint64_t extra = read(probe, sizeof probe);
    if (extra > 0)
        fail(path_, std::to_string(extra) + (extra == sizeof probe ? "+" : "") +
                        " bytes of trailing data after the " + what);
}

uint64_t byte_reader::max_remaining() const {
    uint64_t bound = gzipped_ ? (size_ > max_payload_bytes / max_gzip_ratio ? max_payload_bytes
                                                                            : size_ * max_gzip_ratio + 4096)
                              : size_;
    bound = std::min(bound, max_payload_bytes);
    return bound > consumed_ ? bound - consumed_ : 0;
}

std::vector<uint8_t> read_maybe_gzip(const std::string & path, uint64_t max_bytes) {
    byte_reader r(path);
    if (!r.gzipped()) return read_file(path, max_bytes);
    std::vector<uint8_t> buf;
    const uint64_t limit = std::min(max_bytes, r.max_remaining());
    uint64_t step = 1 << 20;
    for (;;) {
        uint64_t have = buf.size();
        if (have > limit) fail(path, "decompressed data exceeds the limit of " + human_bytes(limit));
        uint64_t want = std::min<uint64_t>(step, limit + 1 - have);
        buf.resize(have + want);
        uint64_t got = r.read(buf.data() + have, want);
        buf.resize(have + got);
        if (got < want) break;
        step = std::min<uint64_t>(step * 2, 1 << 28);
    }
    if (buf.size() > limit) fail(path, "decompressed data exceeds the limit of " + human_bytes(limit));
    return buf;
}

std::vector<uint8_t> gzip_bytes(const uint8_t * data, size_t n, int level) {
    if (n > UINT32_MAX / 2) throw error("gzip_bytes: input too large");
    z_stream zs;
    std::memset(&zs, 0, sizeof zs);
    // windowBits 15 + 16: write a gzip header and trailer instead of a zlib one.
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw error("gzip_bytes: deflateInit2 failed");
    std::vector<uint8_t> out(deflateBound(&zs, static_cast<uLong>(n)) + 32);
    zs.next_in = const_cast<Bytef *>(data);
    zs.avail_in = static_cast<uInt>(n);
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) throw error("gzip_bytes: deflate failed");
    out.resize(zs.total_out);
    return out;
}

void write_file(const std::string & path, const uint8_t * data, size_t n) {
    file_ptr f = open_file(path, "wb");
    if (n && std::fwrite(data, 1, n, f.get()) != n) fail(path, "write error: " + errno_text());
    if (std::fflush(f.get()) != 0) fail(path, "write error: " + errno_text());
}

} // namespace snnkit::detail
