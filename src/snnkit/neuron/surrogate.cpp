// snnkit/neuron/surrogate.cpp: the surrogate gradients' smooth functions sigma(x) and derivatives.
//
// x = v - V_th. Forward of the spike function is always the Heaviside step; sigma is the smooth step whose
// derivative backward uses. Three forms live here and must agree (the tests check it):
//   surrogate_value(s, double)  / surrogate_value(s, Tensor)  the smooth sigma (tensor form: autograd-able)
//   surrogate_grad(s, double)   the hand-written derivative (surrogate_detail::grad, also used by the kernel)
//   surrogate_grad(s, Tensor)   the derivative in plain ATen ops (the reference implementation's backward)
#include "snnkit/neuron/surrogate.h"

#include "snnkit/core/error.h"
#include "snnkit/neuron/surrogate_grad.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace snnkit {

namespace {

constexpr double pi = 3.14159265358979323846;


} // namespace

double dspike_inv2tanh(double b, double w) { return 1.0 / (2.0 * std::tanh(0.5 * b * w)); }

double surrogate_param(const surrogate_options & s) {
    if (s.param > 0.0) return s.param;
    switch (s.kind) {
    case surrogate_kind::rect: return 1.0;
    case surrogate_kind::triangle: return 1.0;
    case surrogate_kind::exp: return 2.0;
    case surrogate_kind::sigmoid: return 4.0;
    case surrogate_kind::atan: return 2.0;
    case surrogate_kind::dspike: return 3.0;
    }
    fail("surrogate", "unknown kind " + std::to_string(static_cast<int>(s.kind)));
}

double surrogate_value(const surrogate_options & s, double x) {
    const double p = surrogate_param(s);
    switch (s.kind) {
    case surrogate_kind::rect: // clamp(x/w + 1/2, 0, 1)
        return std::clamp(x / p + 0.5, 0.0, 1.0);
    case surrogate_kind::triangle: { // piecewise quadratic, (x+g)^2/(2g^2) left of 0, 1 - (g-x)^2/(2g^2) right
        if (x <= -p) return 0.0;
        if (x >= p) return 1.0;
        return x < 0 ? (x + p) * (x + p) / (2 * p * p) : 1.0 - (p - x) * (p - x) / (2 * p * p);
    }
    case surrogate_kind::exp: // e^{ax}/2 left of 0, 1 - e^{-ax}/2 right
        return x < 0 ? 0.5 * std::exp(p * x) : 1.0 - 0.5 * std::exp(-p * x);
    case surrogate_kind::sigmoid: // s(ax)
        return 1.0 / (1.0 + std::exp(-p * x));
    case surrogate_kind::atan: // 1/2 + atan(pi/2 a x) / pi
        return 0.5 + std::atan(0.5 * pi * p * x) / pi;
    case surrogate_kind::dspike: { // (tanh(bx) + tanh(bw/2)) / (2 tanh(bw/2)) on |x| <= w/2, 0 below, 1 above
        const double half = 0.5 * s.width;
        if (x < -half) return 0.0;
        if (x > half) return 1.0;
        return (std::tanh(p * x) + std::tanh(p * half)) * dspike_inv2tanh(p, s.width);
    }
    }
    fail("surrogate", "unknown kind");
}

double surrogate_grad(const surrogate_options & s, double x) {
    const double p = surrogate_param(s);
    using surrogate_detail::grad;
    switch (s.kind) {
    case surrogate_kind::rect: return grad<surrogate_kind::rect>(x, p, s.width, 0.0);
    case surrogate_kind::triangle: return grad<surrogate_kind::triangle>(x, p, s.width, 0.0);
    case surrogate_kind::exp: return grad<surrogate_kind::exp>(x, p, s.width, 0.0);
    case surrogate_kind::sigmoid: return grad<surrogate_kind::sigmoid>(x, p, s.width, 0.0);
    case surrogate_kind::atan: return grad<surrogate_kind::atan>(x, p, s.width, 0.0);
    case surrogate_kind::dspike: return grad<surrogate_kind::dspike>(x, p, s.width, dspike_inv2tanh(p, s.width));
    }
    fail("surrogate", "unknown kind");
}

at::Tensor surrogate_value(const surrogate_options & s, const at::Tensor & x) {
    const double p = surrogate_param(s);
    switch (s.kind) {
    case surrogate_kind::rect: return (x / p + 0.5).clamp(0.0, 1.0);
    case surrogate_kind::triangle: {
        const at::Tensor left = (x + p).clamp_min(0.0).pow(2) / (2 * p * p);
        const at::Tensor right = 1.0 - (p - x).clamp_min(0.0).pow(2) / (2 * p * p);
        return at::where(x < 0, left, right);
    }
    case surrogate_kind::exp: {
        const at::Tensor e = at::exp(-p * x.abs());
        return at::where(x < 0, 0.5 * e, 1.0 - 0.5 * e);
    }
    case surrogate_kind::sigmoid: return at::sigmoid(p * x);
    case surrogate_kind::atan: return 0.5 + at::atan(0.5 * pi * p * x) / pi;
    case surrogate_kind::dspike: {
        const double half = 0.5 * s.width;
        const at::Tensor inside = (at::tanh(p * x) + std::tanh(p * half)) * dspike_inv2tanh(p, s.width);
        return at::where(x < -half, at::zeros_like(x), at::where(x > half, at::ones_like(x), inside));
    }
    }
    fail("surrogate", "unknown kind");
}

at::Tensor surrogate_grad(const surrogate_options & s, const at::Tensor & x) {
    const double p = surrogate_param(s);
    switch (s.kind) {
    case surrogate_kind::rect: return (x.abs() < 0.5 * p).to(x.scalar_type()) / p;
    case surrogate_kind::triangle: return (p - x.abs()).clamp_min(0.0) / (p * p);
    case surrogate_kind::exp: return 0.5 * p * at::exp(-p * x.abs());
    case surrogate_kind::sigmoid: {
        const at::Tensor sg = at::sigmoid(p * x);
        return p * sg * (1.0 - sg);
    }
    case surrogate_kind::atan: return (0.5 * p) / (1.0 + (0.5 * pi * p * x).pow(2));
    case surrogate_kind::dspike: {
        const at::Tensor inside = (x.abs() <= 0.5 * s.width).to(x.scalar_type());
        return p * (1.0 - at::tanh(p * x).pow(2)) * dspike_inv2tanh(p, s.width) * inside;
    }
    }
    fail("surrogate", "unknown kind");
}

surrogate_kind surrogate_from_string(const std::string & name) {
    if (name == "rect") return surrogate_kind::rect;
    if (name == "triangle") return surrogate_kind::triangle;
    if (name == "exp") return surrogate_kind::exp;
    if (name == "sigmoid") return surrogate_kind::sigmoid;
    if (name == "atan") return surrogate_kind::atan;
    if (name == "dspike") return surrogate_kind::dspike;
    fail("surrogate", "unknown name '" + name + "' (expected rect, triangle, exp, sigmoid, atan or dspike)");
}

std::string surrogate_to_string(surrogate_kind kind) {
    switch (kind) {
    case surrogate_kind::rect: return "rect";
    case surrogate_kind::triangle: return "triangle";
    case surrogate_kind::exp: return "exp";
    case surrogate_kind::sigmoid: return "sigmoid";
    case surrogate_kind::atan: return "atan";
    case surrogate_kind::dspike: return "dspike";
    }
    fail("surrogate", "unknown kind " + std::to_string(static_cast<int>(kind)));
}

} // namespace snnkit
