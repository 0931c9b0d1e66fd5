// snnkit/io/atomic_file.h: crash-safe file writes (temp file in the same directory, fsync, rename).
#pragma once

#include <string>

namespace snnkit {

// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never a torn one.
// Throws snnkit::error naming the path on failure; the old file is untouched then.
void write_file_atomic(const std::string & path, const std::string & bytes);

// Reads a whole file; throws snnkit::error naming the path if it is missing or unreadable.
std::string read_file(const std::string & path);

// Creates a directory and its parents (like mkdir -p); throws snnkit::error on failure.
void make_dirs(const std::string & dir);

} // namespace snnkit
