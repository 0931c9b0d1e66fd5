// snnkit/neuron/surrogate.h: surrogate gradients for the spike function theta = [v >= V_th].
//
// Forward is always the Heaviside step; backward uses d(sigma)/dx of a smooth sigma, with x = v - V_th.
// Each kind has one shape parameter (`param`), settable per layer and changeable between epochs.
#pragma once

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace snnkit {

enum class surrogate_kind {
    rect,     // 1/w on |x| < w/2                         (param: width w, default 1)
    triangle, // (1/g^2) * max(0, g - |x|)                (param: half-width g, default 1)
    exp,      // (a/2) * exp(-a|x|)                       (param: a, default 2)
    sigmoid,  // a * s(ax) * (1 - s(ax))                  (param: a, default 4)
    atan,     // a / (2 (1 + (pi/2 a x)^2))               (param: a, default 2)
    dspike,   // b (1 - tanh^2(b x)) / (2 tanh(b w/2)) on |x| <= w/2, 0 outside (param: b, default 3; width w = 1)
};

struct surrogate_options {
    /// which surrogate shape backward uses
    surrogate_kind kind = surrogate_kind::atan;
    /// its shape parameter (width, sharpness or temperature b); <= 0 picks the kind's default
    double param = 0.0;
    /// Dspike only: the window width w (|x| <= w/2; the paper's is 1); the step is normalised by tanh(b w/2)
    double width = 1.0;
};

// The smooth function sigma(x) whose derivative backward uses (x = v - V_th), for tests and plots.
double surrogate_value(const surrogate_options & s, double x);
// Its derivative d sigma / dx, the value backward multiplies by.
double surrogate_grad(const surrogate_options & s, double x);
// The parameter actually in force (param, or the kind's default when param <= 0).
double surrogate_param(const surrogate_options & s);

// Tensor forms, built from plain ATen ops (so autograd can differentiate surrogate_value). The reference
// implementation's spike function uses surrogate_grad(s, x) as its backward: an oracle independent of the
// hand-written scalar formula below, which the fused kernel uses.
at::Tensor surrogate_value(const surrogate_options & s, const at::Tensor & x);
at::Tensor surrogate_grad(const surrogate_options & s, const at::Tensor & x);

// "rect" | "triangle" | "exp" | "sigmoid" | "atan" | "dspike"; unknown names throw snnkit::error.
surrogate_kind surrogate_from_string(const std::string & name);
std::string surrogate_to_string(surrogate_kind kind);

// The Dspike normaliser 1 / (2 tanh(b w/2)) for temperature b and window width w (w = 1: the paper's
// 1 / (2 tanh(b/2))).
double dspike_inv2tanh(double b, double w);

namespace surrogate_detail {

// The hand-written derivative d sigma / dx for one kind, branch-light so loops over it vectorise.
// p is surrogate_param(s), w the Dspike window; inv2tanh = dspike_inv2tanh(p, w) (Dspike only).
template <surrogate_kind K, typename T>
inline T grad(T x, T p, T w, T inv2tanh) {
    const T ax = std::abs(x);
    if constexpr (K == surrogate_kind::rect) {
        return T(ax < T(0.5) * p) / p;                                      // 1/w on |x| < w/2
    } else if constexpr (K == surrogate_kind::triangle) {
        return std::max(p - ax, T(0)) / (p * p);                           // (g - |x|)+ / g^2
    } else if constexpr (K == surrogate_kind::exp) {
        return T(0.5) * p * std::exp(-p * ax);                             // (a/2) e^{-a|x|}
    } else if constexpr (K == surrogate_kind::sigmoid) {
        const T sg = T(1) / (T(1) + std::exp(-p * x));                     // a s (1 - s), s = sigmoid(a x)
        return p * sg * (T(1) - sg);
    } else if constexpr (K == surrogate_kind::atan) {
        const T z = T(1.5707963267948966) * p * x;                          // a / (2 (1 + (pi/2 a x)^2))
        return T(0.5) * p / (T(1) + z * z);
    } else {
        const T th = std::tanh(p * x);                                     // b (1 - tanh^2 b x) / (2 tanh(b w/2))
        return T(ax <= T(0.5) * w) * p * (T(1) - th * th) * inv2tanh;      //   on |x| <= w/2
    }
}

} // namespace surrogate_detail

} // namespace snnkit
