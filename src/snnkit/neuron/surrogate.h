// snnkit/neuron/surrogate.h: surrogate gradients for the spike function theta = [v >= V_th].
//
// Forward is always the Heaviside step; backward uses d(sigma)/dx of a smooth sigma, with x = v - V_th.
// Each kind has one shape parameter (`param`), settable per layer and changeable between epochs.
#pragma once

#include <ATen/core/Tensor.h>

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
// hand-written formula of surrogate_grad.h, which the fused kernel uses.
at::Tensor surrogate_value(const surrogate_options & s, const at::Tensor & x);
at::Tensor surrogate_grad(const surrogate_options & s, const at::Tensor & x);

// "rect" | "triangle" | "exp" | "sigmoid" | "atan" | "dspike"; unknown names throw snnkit::error.
surrogate_kind surrogate_from_string(const std::string & name);
std::string surrogate_to_string(surrogate_kind kind);

// The Dspike normaliser 1 / (2 tanh(b w/2)) for temperature b and window width w (w = 1: the paper's
// 1 / (2 tanh(b/2))).
double dspike_inv2tanh(double b, double w);

} // namespace snnkit
