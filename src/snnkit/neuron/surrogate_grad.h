// snnkit/neuron/surrogate_grad.h: the hand-written surrogate derivatives d sigma / dx that the fused neuron
// kernel's backward multiplies by (x = v - V_th), one inline function per kind, written so that a loop over
// them vectorises: no branches, and no libm call for float.
//
// The exp-based kinds (exp, sigmoid, Dspike) need e^z only for z <= 0, since each is even in x:
//   exp      (a/2) e^{-a|x|}
//   sigmoid  a s(ax)(1 - s(ax))       = a e / (1 + e)^2,        e = e^{-a|x|}
//   Dspike   b (1 - tanh^2(bx)) / (2 tanh(bw/2)) on |x| <= w/2, with 1 - tanh^2(y) = 4 e / (1 + e)^2, e = e^{-2|y|}
// The second forms also avoid the cancellation in 1 - tanh^2 (and in 1 - s) where the derivative is small.
// For float, e^z comes from exp_nonpos below (a polynomial, which GCC vectorises; libm's expf and tanhf are
// scalar calls and cost about half of a Dspike ResNet-20 training step); for double, from std::exp.
#pragma once

#include "snnkit/neuron/surrogate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

// The rounding below, (y + 1.5 * 2^23) - 1.5 * 2^23, is what re-association would fold away.
#if defined(__FAST_MATH__)
#error "surrogate_grad.h needs IEEE float semantics: build without -ffast-math / -fassociative-math"
#endif

namespace snnkit::surrogate_detail {

// e^z for z <= 0 in float, within about 2 ulp: z = n ln2 + r with |r| <= ln2/2, e^r by its Taylor series to
// r^7 (truncation about 7e-9 relative), times 2^n built from the exponent bits. Below -87 it returns e^-87
// (1.6e-38, still a normal float) instead of flushing towards 0; NaN stays NaN.
inline float exp_nonpos(float z) {
    z = z < -87.0f ? -87.0f : z;
    const float round_magic = 12582912.0f;                       // 1.5 * 2^23: adding it rounds to an integer
    const float n = (z * 1.44269504088896341f + round_magic) - round_magic; // round(z / ln 2), in [-126, 0]
    const float r = (z - n * 0.693145751953125f) - n * 1.42860676533018704e-6f; // ln 2 split in two parts
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // 2^n from its exponent bits, (n + 127) * 2^23, formed in float (exact: an integer below 2^30 with few
    // significant bits) and converted once: AVX without AVX2 has 8-lane float-to-int conversion but no 8-lane
    // integer add or shift, so an integer form would keep the AVX build of the kernel loop scalar.
    // (A NaN z makes n NaN: the select keeps the conversion defined; p carries the NaN to the result.)
    const float nc = n > -127.0f ? n : -126.0f;
    const float scale = __builtin_bit_cast(float, static_cast<int32_t>((nc + 127.0f) * 8388608.0f));
    return p * scale;
}

// e^z for z <= 0 in double (tests and double tensors): libm.
inline double exp_nonpos(double z) { return std::exp(z); }

// d sigma / dx for kind K; p is surrogate_param(s), w the Dspike window, inv2tanh = dspike_inv2tanh(p, w)
// (Dspike only).
template <surrogate_kind K, typename T>
inline T grad(T x, T p, T w, T inv2tanh) {
    const T ax = std::abs(x);
    if constexpr (K == surrogate_kind::rect) {
        return ax < T(0.5) * p ? T(1) / p : T(0);                          // 1/w on |x| < w/2
    } else if constexpr (K == surrogate_kind::triangle) {
        return std::max(p - ax, T(0)) / (p * p);                          // (g - |x|)+ / g^2
    } else if constexpr (K == surrogate_kind::exp) {
        return T(0.5) * p * exp_nonpos(-p * ax);                        // (a/2) e^{-a|x|}
    } else if constexpr (K == surrogate_kind::sigmoid) {
        const T e = exp_nonpos(-p * ax);                                // a e / (1 + e)^2
        const T d = T(1) + e;
        return p * e / (d * d);
    } else if constexpr (K == surrogate_kind::atan) {
        const T z = T(1.5707963267948966) * p * x;                         // a / (2 (1 + (pi/2 a x)^2))
        return T(0.5) * p / (T(1) + z * z);
    } else {
        const T e = exp_nonpos(T(-2) * p * ax);                         // b 4e/(1+e)^2 / (2 tanh(b w/2))
        const T d = T(1) + e;                                             //   on |x| <= w/2
        return ax <= T(0.5) * w ? p * T(4) * e / (d * d) * inv2tanh : T(0);
    }
}

} // namespace snnkit::surrogate_detail
