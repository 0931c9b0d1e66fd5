// snnkit/core/isolate.h: run a piece of work in a forked child process, so that a crash inside a library
// that cannot be trusted with hostile input (HDF5 reading a damaged file) ends that child, not the caller.
//
// The work writes its result as bytes; the caller gets them back. A snnkit::error thrown by the work is
// rethrown in the caller with the same message. A child killed by a signal (SIGSEGV, SIGABRT, ...), one
// that exits without a result, or one that runs past the time limit becomes one snnkit::error naming
// `what` (a file) and what happened. The child inherits the caller's memory at the fork, so the work can
// read anything the caller built; nothing it changes comes back except the result bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace snnkit {

/// How run_isolated treats the child.
struct isolate_options {
    /// the child is killed after this many seconds (0 = no limit)
    int timeout_s = 120;
    /// what the work is, for error messages ("the HDF5 library")
    std::string actor = "the child process";
    /// address space the child may add to what the process had at the fork, in bytes (0 = no limit); an
    /// allocation past it fails in the child (not applied in ASan builds, whose shadow memory needs more)
    uint64_t extra_memory = 0;
};

// Runs work(out) in a child process and returns the bytes it left in `out`.
std::string run_isolated(const std::string & what, const std::function<void(std::string & out)> & work,
                         const isolate_options & opt = {});

} // namespace snnkit
