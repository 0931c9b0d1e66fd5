// snnkit/core/shape_text.h: a tensor shape as error messages print it, "[N, C, H, W]" -> "[2, 3, 32, 32]";
// tables pass sep "," for the compact "[2,3,32,32]".
#pragma once

#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <string>

namespace snnkit {

inline std::string shape_text(c10::IntArrayRef s, const char * sep = ", ") {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) {
        r += (i ? sep : "") + std::to_string(s[i]);
    }
    return r + "]";
}

} // namespace snnkit
