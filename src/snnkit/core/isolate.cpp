// snnkit/core/isolate.cpp: fork, a pipe for the result, waitpid (see isolate.h).
#include "snnkit/core/isolate.h"

#include "snnkit/core/error.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <cstdio>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SNNKIT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SNNKIT_ASAN 1
#endif
#ifdef SNNKIT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace snnkit {

namespace {

// Writes all n bytes to fd; false on failure (the reader went away).
bool write_all(int fd, const char * p, size_t n) {
    while (n > 0) {
        const ssize_t k = ::write(fd, p, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return false;
        }
        p += k;
        n -= static_cast<size_t>(k);
    }
    return true;
}

// The child: default actions for the crash signals (a handler inherited from the parent, such as a
// fuzzer's or a sanitizer's, must not run here and report the parent as crashed), a time limit, the work,
// then one status byte ('o' result follows, 'e' error message follows) and the payload.
// Caps the child's address space at its size now plus `extra` bytes.
void limit_memory(uint64_t extra) {
#ifndef SNNKIT_ASAN
    unsigned long long pages = 0;
    std::FILE * f = std::fopen("/proc/self/statm", "r");
    const bool ok = f && std::fscanf(f, "%llu", &pages) == 1;
    if (f) {
        std::fclose(f);
    }
    if (ok) {
        const rlim_t cap = static_cast<rlim_t>(pages * static_cast<unsigned long long>(::sysconf(_SC_PAGESIZE)) + extra);
        const rlimit r{cap, cap};
        ::setrlimit(RLIMIT_AS, &r);
    }
#else
    (void)extra;
#endif
}

[[noreturn]] void child_main(int fd, const std::function<void(std::string &)> & work, const isolate_options & opt) {
    const int timeout_s = opt.timeout_s;
    if (opt.extra_memory > 0) {
        limit_memory(opt.extra_memory);
    }
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM}) {
        std::signal(sig, SIG_DFL);
    }
#ifdef SNNKIT_ASAN
    __sanitizer_set_death_callback(nullptr);
#endif
    if (timeout_s > 0) {
        ::alarm(static_cast<unsigned>(timeout_s));
    }
    std::string msg;
    char tag = 'o';
    try {
        work(msg);
    } catch (const error & e) {
        tag = 'e';
        msg = e.what();
    } catch (const std::exception & e) {
        tag = 'x';
        msg = e.what();
    }
    const bool ok = write_all(fd, &tag, 1) && write_all(fd, msg.data(), msg.size());
    ::close(fd);
    ::_exit(ok ? 0 : 3); // no atexit handlers, no flushing of the parent's stdio buffers
}

std::string signal_text(int sig) {
    const char * name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGABRT ? "SIGABRT"
                        : sig == SIGFPE ? "SIGFPE" : sig == SIGILL ? "SIGILL" : sig == SIGKILL ? "SIGKILL"
                        : nullptr;
    return name ? std::string(name) : "signal " + std::to_string(sig);
}

} // namespace

std::string run_isolated(const std::string & what, const std::function<void(std::string & out)> & work,
                         const isolate_options & opt) {
    int fds[2];
    if (::pipe(fds) != 0) {
        fail(what, std::string("cannot create a pipe: ") + std::strerror(errno));
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int e = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        fail(what, std::string("cannot start a reader process: ") + std::strerror(e));
    }
    if (pid == 0) {
        ::close(fds[0]);
        child_main(fds[1], work, opt);
    }
    ::close(fds[1]);
    std::string bytes;
    char buf[1 << 16];
    while (true) {
        const ssize_t k = ::read(fds[0], buf, sizeof buf);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            break;
        }
        bytes.append(buf, static_cast<size_t>(k));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        if (sig == SIGALRM) {
            fail(what, opt.actor + " took longer than " + std::to_string(opt.timeout_s) + " s (damaged file?)");
        }
        fail(what, opt.actor + " crashed (" + signal_text(sig) + ") reading it; the file is damaged or not what it claims");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || bytes.empty()) {
        fail(what, opt.actor + " failed reading it (exit status " +
                       std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + "); the file is damaged");
    }
    const char tag = bytes[0];
    bytes.erase(0, 1);
    if (tag == 'e') {
        throw error(bytes);
    }
    if (tag == 'x') {
        fail(what, opt.actor + ": " + bytes);
    }
    return bytes;
}

} // namespace snnkit
