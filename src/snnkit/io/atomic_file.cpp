// snnkit/io/atomic_file.cpp
#include "snnkit/io/atomic_file.h"

#include "snnkit/core/error.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace snnkit {

void write_file_atomic(const std::string & path, const std::string & bytes) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
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
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const std::string why = std::strerror(errno);
        ::unlink(tmp.c_str());
        fail(path, "flush failed: " + why);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        ::unlink(tmp.c_str());
        fail(path, "rename failed: " + why);
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
