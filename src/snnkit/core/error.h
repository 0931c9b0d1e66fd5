// snnkit/core/error.h: the one exception type snnkit throws for bad input and misuse.
//
// Every message names the thing at fault (a file, a layer, a flag) and the problem, in one line,
// e.g. "train-images-idx3-ubyte.gz: wrong magic number 0x00000000 (expected 0x00000803)".
#pragma once

#include <stdexcept>
#include <string>

namespace snnkit {

class error : public std::runtime_error {
public:
    explicit error(const std::string & what) : std::runtime_error(what) {}
};

// Throws snnkit::error("<where>: <problem>").
[[noreturn]] inline void fail(const std::string & where, const std::string & problem) {
    throw error(where + ": " + problem);
}

// The first line of a message (LibTorch's c10::Error texts carry context lines after it).
inline std::string first_line(const std::string & s) { return s.substr(0, s.find('\n')); }

} // namespace snnkit
