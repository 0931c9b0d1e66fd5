// snnkit/core/fnv1a.h: FNV-1a, 64 bits, over bytes: a hash that is the same on every machine and build (the
// settings and data hashes the ranks of a data-parallel job compare at start-up).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace snnkit {

// Continues the hash `h` (start with fnv1a_offset) over n bytes at p.
inline uint64_t fnv1a(const void * p, size_t n, uint64_t h) {
    const auto * b = static_cast<const unsigned char *>(p);
    for (size_t i = 0; i < n; ++i) {
        h = (h ^ b[i]) * 1099511628211ull;
    }
    return h;
}

/// FNV-1a's offset basis: the hash of no bytes
constexpr uint64_t fnv1a_offset = 1469598103934665603ull;

inline uint64_t fnv1a(const std::string & text) { return fnv1a(text.data(), text.size(), fnv1a_offset); }

} // namespace snnkit
