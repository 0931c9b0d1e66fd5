// snnkit/io/atomic_file.cpp
#include "snnkit/io/atomic_file.h"

#include "snnkit/core/error.h"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace snnkit {

void write_file_atomic(const std::string & path, const std::string & bytes) {
    // pid + a per-process counter: two threads writing the same path never share a temporary file
    static std::atomic<uint64_t> serial{0};
    const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(serial.fetch_add(1));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail(path, std::string("cannot create temporary file: ") + std::strerror(errno));
    }
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            const std::string why = std::strerror(errno);
            ::close(fd);
            ::unlink(tmp.c_str());
            fail(path, "write failed: " + why);
        }
        done += static_cast<size_t>(w);
    }
    const int synced = ::fsync(fd), sync_errno = errno;
    const int closed = ::close(fd), close_errno = errno; // closed also when fsync failed
    if (synced != 0 || closed != 0) {
        const std::string why = std::strerror(synced != 0 ? sync_errno : close_errno);
        ::unlink(tmp.c_str());
        fail(path, "flush failed: " + why);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        ::unlink(tmp.c_str());
        fail(path, "rename failed: " + why);
    }
    // The rename itself is durable once the directory is synced (best effort: some filesystems refuse it).
    const std::string dir = std::filesystem::path(path).has_parent_path()
                                ? std::filesystem::path(path).parent_path().string()
                                : std::string(".");
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

std::string read_file(const std::string & path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        fail(path, "no such file");
    }
    if (std::filesystem::is_directory(path, ec)) {
        fail(path, "is a directory, expected a file");
    }
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        fail(path, "cannot open for reading");
    }
    std::ostringstream ss;
    ss << f.rdbuf();
    if (f.bad()) {
        fail(path, "read error");
    }
    return ss.str();
}

void make_dirs(const std::string & dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir)) {
        fail(dir, "cannot create directory: " + (ec ? ec.message() : std::string("not a directory")));
    }
}

} // namespace snnkit
