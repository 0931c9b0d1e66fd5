// snnkit/core/rng.h: counter-based seeding. Every random draw in training is a pure function of
// (seed, epoch, step, ...), so a resumed run replays exactly what an uninterrupted one would.
#pragma once

#include <cstdint>

namespace snnkit {

// splitmix64 finaliser: a well-mixed 64-bit hash of x.
inline uint64_t rng_splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// A seed derived from a base seed and two counters.
inline uint64_t rng_mix(uint64_t seed, uint64_t a, uint64_t b = 0) {
    return rng_splitmix(rng_splitmix(rng_splitmix(seed) ^ a) ^ b);
}

} // namespace snnkit
