// snnkit/neuron/neuron.cpp: validation, dtype dispatch and the autograd wrapper of the fused neuron kernel;
// also the single-step API and the analog integrator. The arithmetic lives in neuron_kernel.cpp.
#include "snnkit/neuron/neuron.h"

#include "snnkit/core/error.h"
#include "snnkit/core/shape_text.h"
#include "snnkit/neuron/neuron_kernel.h"

#include <ATen/Dispatch.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace snnkit {

namespace kernel {

neuron_inputs check_neuron_inputs(const std::string & where, const at::Tensor & x, const at::Tensor & v_th,
                                  const at::Tensor & v0, bool copy_x) {
    if (!x.defined()) fail(where, "x is undefined");
    if (!x.device().is_cpu()) fail(where, "x is on " + x.device().str() + "; only CPU tensors are supported");
    if (x.scalar_type() != at::kFloat && x.scalar_type() != at::kDouble)
        fail(where, std::string("x has dtype ") + c10::toString(x.scalar_type()) + "; expected float32 or float64");
    if (x.dim() < 2) fail(where, "x has shape " + shape_text(x.sizes()) + "; expected time-major [T, N, ...]");
    if (x.size(0) == 0)
        fail(where, "x has T = 0 time steps (shape " + shape_text(x.sizes()) + "); need T >= 1");

    neuron_inputs in;
    if (copy_x) in.x = x.contiguous();
    neuron_shape & sh = in.shape;
    sh.T = x.size(0);
    sh.M = x.numel() / sh.T;
    sh.C = x.dim() >= 3 ? x.size(2) : 1;
    sh.S = 1;
    for (int64_t d = 3; d < x.dim(); ++d) sh.S *= x.size(d);
    const std::string channel_hint =
        x.dim() >= 3 ? "[C] = [" + std::to_string(sh.C) + "] (C = x.size(2))" : "no per-channel form (x is [T, N])";

    if (!v_th.defined()) fail(where, "v_th is undefined; pass a 0-d tensor such as at::scalar_tensor(1.0)");
    if (v_th.dim() == 0 || (v_th.dim() == 1 && v_th.numel() == 1)) {
        in.vth_kind = fill_kind::scalar;
    } else if (v_th.dim() == 1 && x.dim() >= 3 && v_th.size(0) == sh.C) {
        in.vth_kind = fill_kind::channel;
    } else {
        fail(where, "v_th has shape " + shape_text(v_th.sizes()) + " for x " + shape_text(x.sizes()) +
                        "; expected a 0-d scalar or " + channel_hint);
    }
    if (!v_th.device().is_cpu()) fail(where, "v_th is on " + v_th.device().str() + "; only CPU tensors are supported");
    in.v_th = v_th.detach().to(x.scalar_type()).contiguous();
    if (in.vth_kind == fill_kind::scalar) in.v_th = in.v_th.reshape({});
    if (!at::isfinite(in.v_th).all().item<bool>()) fail(where, "v_th contains NaN or Inf");

    const at::IntArrayRef step = x.sizes().slice(1);
    if (!v0.defined()) {
        in.v0_kind = fill_kind::zero;
    } else {
        if (v0.dim() == 0) {
            in.v0_kind = fill_kind::scalar;
        } else if (v0.sizes() == step) {
            in.v0_kind = fill_kind::neuron;
        } else if (v0.dim() == 1 && x.dim() >= 3 && v0.size(0) == sh.C) {
            in.v0_kind = fill_kind::channel;
        } else {
            fail(where, "v0 has shape " + shape_text(v0.sizes()) + " for x " + shape_text(x.sizes()) +
                            "; expected undefined (zeros), a 0-d scalar, " +
                            (x.dim() >= 3 ? "[C] = [" + std::to_string(sh.C) + "], " : std::string()) +
                            "or one step " + shape_text(step));
        }
        if (!v0.device().is_cpu()) fail(where, "v0 is on " + v0.device().str() + "; only CPU tensors are supported");
        in.v0 = v0.to(x.scalar_type());
    }
    return in;
}

at::Tensor broadcast_to_step(const at::Tensor & q, fill_kind kind, int64_t step_dim) {
    switch (kind) {
    case fill_kind::zero: return at::Tensor();
    case fill_kind::scalar: return q.reshape({});
    case fill_kind::neuron: return q;
    case fill_kind::channel: {
        std::vector<int64_t> shape(static_cast<size_t>(step_dim - 1), 1);
        shape[0] = q.size(0);
        return q.reshape(shape);
    }
    }
    return q;
}

} // namespace kernel

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

kernel::neuron_params to_params(const neuron_options & opt) {
    kernel::neuron_params p;
    p.alpha = opt.alpha;
    p.soft = opt.reset == reset_mode::soft;
    p.detach_reset = opt.detach_reset;
    p.spike_vth = opt.spike_vth;
    p.kind = opt.surrogate.kind;
    p.param = surrogate_param(opt.surrogate);
    p.width = opt.surrogate.width;
    return p;
}

// A fresh [T, N, ...] output. The kernel writes it once, front to back, right after this; on Linux the
// (2 MiB aligned) interior is marked MADV_HUGEPAGE first, so first touch costs one page fault per 2 MiB
// instead of one per 4 KiB: faulting in two fresh 64 MiB tensors page by page costs more than the kernel
// itself. Advisory only: where THP is off or unsupported nothing changes.
at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions & options) {
    at::Tensor t = at::empty(sizes, options);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr uintptr_t huge = uintptr_t(2) << 20;
    const size_t bytes = t.nbytes();
    if (bytes >= 4 * huge) {
        const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
        const uintptr_t lo = (begin + huge - 1) & ~(huge - 1);
        const uintptr_t hi = (begin + bytes) & ~(huge - 1);
        if (hi > lo) madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_HUGEPAGE);
    }
#endif
    return t;
}

template <typename T>
kernel::neuron_fill<T> fill_of(const at::Tensor & q, kernel::fill_kind kind) {
    return {kind, kind == kernel::fill_kind::zero ? nullptr : q.data_ptr<T>()};
}

// The sizes of one step [N, ...] and of all T steps [T, N, ...] for the kernel's x: [T, N, ...], or one step
// repeated T times (sh.x_repeated).
at::IntArrayRef one_step(const at::Tensor & x, const kernel::neuron_shape & sh) {
    return sh.x_repeated ? x.sizes() : x.sizes().slice(1);
}

std::vector<int64_t> all_steps(const at::Tensor & x, const kernel::neuron_shape & sh) {
    std::vector<int64_t> s{sh.T};
    const at::IntArrayRef step = one_step(x, sh);
    s.insert(s.end(), step.begin(), step.end());
    return s;
}

// The fused forward kernel over x (laid out as sh says; x_add: undefined, or a second input of x's layout added
// to it): spikes [T, N, ...] and the final v [N, ...]. Fails naming `where` when a NaN reached the potential.
neuron_result run_forward_kernel(const std::string & where, const at::Tensor & x, const at::Tensor & v_th,
                                 const at::Tensor & v0, const kernel::neuron_params & p,
                                 const kernel::neuron_shape & sh, kernel::fill_kind vth_kind, kernel::fill_kind v0_kind,
                                 const at::Tensor & x_add = {}) {
    at::Tensor spikes = empty_output(all_steps(x, sh), x.options());
    at::Tensor v = at::empty(one_step(x, sh), x.options());
    bool finite = true;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neuron_forward", [&] {
        finite = kernel::neuron_forward_kernel<scalar_t>(p, sh, x.data_ptr<scalar_t>(), fill_of<scalar_t>(v_th, vth_kind),
                                                         fill_of<scalar_t>(v0, v0_kind), spikes.data_ptr<scalar_t>(),
                                                         v.data_ptr<scalar_t>(),
                                                         x_add.defined() ? x_add.data_ptr<scalar_t>() : nullptr);
    });
    if (!finite) {
        fail(where, std::string(x_add.defined() ? "NaN in x, x_add or v0" : "NaN in x or v0") +
                        " (it reached the membrane potential)");
    }
    return {spikes, v};
}

// The autograd node of the fused kernel. Saves x (an input: no copy) and v0 (small); nothing [T, M]-sized.
struct neuron_function : public torch::autograd::Function<neuron_function> {
    // alpha_opt: a 0-d tensor whose value is p.alpha, given only when dL/dalpha may be wanted (PLIF).
    static variable_list forward(AutogradContext * ctx, const at::Tensor & x, const at::Tensor & v_th,
                                 const c10::optional<at::Tensor> & v0_opt,
                                 const c10::optional<at::Tensor> & alpha_opt, const kernel::neuron_params & p,
                                 const kernel::neuron_shape & sh, kernel::fill_kind vth_kind,
                                 kernel::fill_kind v0_kind, const std::string & where) {
        const at::Tensor v0 = v0_opt.has_value() ? v0_opt->contiguous() : at::Tensor();
        const neuron_result r = run_forward_kernel(where, x, v_th, v0, p, sh, vth_kind, v0_kind);

        ctx->save_for_backward({x, v_th, v0});
        ctx->set_materialize_grads(false);
        auto & d = ctx->saved_data;
        d["alpha"] = p.alpha;
        d["soft"] = p.soft;
        d["detach"] = p.detach_reset;
        d["spike_vth"] = p.spike_vth;
        d["kind"] = static_cast<int64_t>(p.kind);
        d["param"] = p.param;
        d["width"] = p.width;
        d["T"] = sh.T;
        d["M"] = sh.M;
        d["C"] = sh.C;
        d["S"] = sh.S;
        d["x_repeated"] = sh.x_repeated;
        d["vth_kind"] = static_cast<int64_t>(vth_kind);
        d["v0_kind"] = static_cast<int64_t>(v0_kind);
        d["where"] = where;
        d["has_alpha"] = alpha_opt.has_value();
        d["alpha_edge"] = int64_t(v0.defined() ? 3 : 2); // autograd edges: x, v_th, then v0 and alpha when given
        return {r.spikes, r.v};
    }

    static variable_list backward(AutogradContext * ctx, variable_list grads) {
        if (at::GradMode::is_enabled()) { // the kernel's gradient has no history: a second derivative would be 0
            fail(ctx->saved_data.at("where").toStringRef(), "second derivatives (create_graph) are not supported");
        }
        const auto saved = ctx->get_saved_variables();
        const at::Tensor & x = saved[0];
        const at::Tensor & v_th = saved[1];
        const at::Tensor & v0 = saved[2];
        const auto & d = ctx->saved_data;
        kernel::neuron_params p;
        p.alpha = d.at("alpha").toDouble();
        p.soft = d.at("soft").toBool();
        p.detach_reset = d.at("detach").toBool();
        p.spike_vth = d.at("spike_vth").toBool();
        p.kind = static_cast<surrogate_kind>(d.at("kind").toInt());
        p.param = d.at("param").toDouble();
        p.width = d.at("width").toDouble();
        kernel::neuron_shape sh;
        sh.T = d.at("T").toInt();
        sh.M = d.at("M").toInt();
        sh.C = d.at("C").toInt();
        sh.S = d.at("S").toInt();
        sh.x_repeated = d.at("x_repeated").toBool();
        const auto vth_kind = static_cast<kernel::fill_kind>(d.at("vth_kind").toInt());
        const auto v0_kind = static_cast<kernel::fill_kind>(d.at("v0_kind").toInt());

        const variable_list none(9);
        if (!grads[0].defined() && !grads[1].defined()) return none;
        const at::Tensor gs = grads[0].defined() ? grads[0].contiguous() : at::zeros(all_steps(x, sh), x.options());
        const at::Tensor gv = grads[1].defined() ? grads[1].contiguous() : at::Tensor();
        const bool want_v0 = v0.defined() && v0_kind != kernel::fill_kind::zero && ctx->needs_input_grad(2);
        at::Tensor gx = empty_output(x.sizes(), x.options()); // a repeated step's gradient: the sum over the steps
        at::Tensor gv0 = want_v0 ? at::empty(one_step(x, sh), x.options()) : at::Tensor();
        const bool want_alpha = d.at("has_alpha").toBool() &&
                                ctx->needs_input_grad(static_cast<size_t>(d.at("alpha_edge").toInt()));
        double galpha = 0.0;
        AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neuron_backward", [&] {
            kernel::neuron_backward_kernel<scalar_t>(
                p, sh, x.data_ptr<scalar_t>(), fill_of<scalar_t>(v_th, vth_kind), fill_of<scalar_t>(v0, v0_kind),
                gs.data_ptr<scalar_t>(), gv.defined() ? gv.data_ptr<scalar_t>() : nullptr, gx.data_ptr<scalar_t>(),
                want_v0 ? gv0.data_ptr<scalar_t>() : nullptr, want_alpha ? &galpha : nullptr);
        });
        if (want_v0) { // reduce the per-neuron gradient to v0's shape
            if (v0_kind == kernel::fill_kind::scalar) {
                gv0 = gv0.sum();
            } else if (v0_kind == kernel::fill_kind::channel) {
                gv0 = sh.M == 0 ? at::zeros({sh.C}, x.options()) : gv0.reshape({-1, sh.C, sh.S}).sum(2).sum(0);
            }
        }
        variable_list out(9);
        out[0] = gx;
        out[2] = gv0;
        if (want_alpha) out[3] = at::scalar_tensor(galpha, x.options());
        return out;
    }
};

// check_neuron_inputs for x [T, N, ...] (repeat = 0), or for one step [N, ...] that is the input of each of `repeat`
// steps, checked as the [T, N, ...] view it stands for.
kernel::neuron_inputs check_inputs(const std::string & where, const at::Tensor & x, const at::Tensor & v_th,
                                   const at::Tensor & v0, int64_t repeat) {
    if (repeat == 0) {
        return kernel::check_neuron_inputs(where, x, v_th, v0);
    }
    if (!x.defined() || x.dim() < 1) fail(where, "x is undefined or 0-d; expected one step [N, ...]");
    std::vector<int64_t> all{repeat};
    all.insert(all.end(), x.sizes().begin(), x.sizes().end());
    kernel::neuron_inputs in = kernel::check_neuron_inputs(where, x.unsqueeze(0).expand(all), v_th, v0, false);
    in.x = x.contiguous();
    in.shape.x_repeated = true;
    return in;
}

// alpha: undefined (opt.alpha, no gradient) or a 0-d / one-element tensor whose value replaces opt.alpha and
// which gets dL/dalpha when it requires grad.
// repeat > 0: x is one step [N, ...], the input of each of `repeat` steps (read, not copied, T times).
neuron_result run_fused(const std::string & where, const at::Tensor & x, const at::Tensor & v_th,
                        const at::Tensor & v0, const at::Tensor & alpha, const neuron_options & opt,
                        int64_t repeat = 0) {
    neuron_options o = opt;
    c10::optional<at::Tensor> alpha_opt;
    if (alpha.defined()) {
        if (alpha.numel() != 1 || alpha.dim() > 1) {
            fail(where, "alpha has shape " + shape_text(alpha.sizes()) + "; expected a 0-d tensor (one leak factor per layer)");
        }
        if (!alpha.device().is_cpu()) fail(where, "alpha is on " + alpha.device().str() + "; only CPU tensors are supported");
        o.alpha = alpha.detach().to(at::kDouble).item<double>();
        if (alpha.requires_grad() && at::GradMode::is_enabled()) alpha_opt = alpha.reshape({});
    }
    check_neuron_options(where, o);
    const kernel::neuron_inputs in = check_inputs(where, x, v_th, v0, repeat);
    const c10::optional<at::Tensor> v0_opt = in.v0.defined() ? c10::optional<at::Tensor>(in.v0) : c10::nullopt;
    const variable_list out = neuron_function::apply(in.x, in.v_th, v0_opt, alpha_opt, to_params(o), in.shape,
                                                     in.vth_kind, in.v0_kind, where);
    return {out[0], out[1]};
}

// The checks of the inference-only forms (neuron_forward_sum, neuron_forward_to_sink): x_add, when given, a CPU
// tensor of x's sizes and dtype; no gradient wanted (hint: the form that has one); alpha's value (0-d) in the
// returned options, which are checked.
neuron_options inference_options(const std::string & where, const at::Tensor & x, const at::Tensor & x_add,
                                 const at::Tensor & v_th, const at::Tensor & v0, const at::Tensor & alpha,
                                 const neuron_options & opt, const std::string & hint) {
    if (x_add.defined() && (!x.defined() || x_add.sizes() != x.sizes() || x_add.scalar_type() != x.scalar_type() ||
                            !x_add.device().is_cpu())) {
        fail(where, "x_add must be a CPU tensor of x's sizes and dtype");
    }
    const auto wants_grad = [](const at::Tensor & t) { return t.defined() && t.requires_grad(); };
    if (at::GradMode::is_enabled() &&
        (wants_grad(x) || wants_grad(x_add) || wants_grad(v_th) || wants_grad(v0) || wants_grad(alpha))) {
        fail(where, "inference only: no gradient flows through it" + hint);
    }
    neuron_options o = opt;
    if (alpha.defined()) {
        if (alpha.numel() != 1) fail(where, "alpha must be 0-d (one leak factor per layer)");
        o.alpha = alpha.detach().to(at::kDouble).item<double>();
    }
    check_neuron_options(where, o);
    return o;
}

} // namespace

void check_neuron_options(const std::string & where, const neuron_options & opt) {
    if (!std::isfinite(opt.alpha)) fail(where, "alpha must be finite, got " + std::to_string(opt.alpha));
    const double p = opt.surrogate.param;
    if (!std::isfinite(p) || p < 0.0) {
        fail(where, "surrogate_param must be finite and >= 0 (0: the surrogate's default), got " + std::to_string(p));
    }
    const double w = opt.surrogate.width;
    if (!std::isfinite(w) || w <= 0.0) fail(where, "surrogate_width must be finite and > 0, got " + std::to_string(w));
}

neuron_result neuron_forward(const at::Tensor & x, const at::Tensor & v_th, const at::Tensor & v0,
                             const neuron_options & opt) {
    return run_fused("neuron_forward", x, v_th, v0, at::Tensor(), opt);
}

neuron_result neuron_forward(const at::Tensor & x, const at::Tensor & v_th, const at::Tensor & v0,
                             const at::Tensor & alpha, const neuron_options & opt) {
    return run_fused("neuron_forward", x, v_th, v0, alpha, opt);
}

neuron_result neuron_forward_repeated(const at::Tensor & x_step, int64_t T, const at::Tensor & v_th,
                                      const at::Tensor & v0, const at::Tensor & alpha, const neuron_options & opt) {
    if (T < 1) fail("neuron_forward_repeated", "T = " + std::to_string(T) + " time steps; need T >= 1");
    return run_fused("neuron_forward_repeated", x_step, v_th, v0, alpha, opt, T);
}

neuron_result neuron_forward_sum(const at::Tensor & x, const at::Tensor & x_add, const at::Tensor & v_th,
                                 const at::Tensor & v0, const at::Tensor & alpha, const neuron_options & opt) {
    const std::string where = "neuron_forward_sum";
    if (!x_add.defined()) fail(where, "x_add must be a CPU tensor of x's sizes and dtype");
    const neuron_options o =
        inference_options(where, x, x_add, v_th, v0, alpha, opt, " (use neuron_forward(x + x_add, ...))");
    const kernel::neuron_inputs in = kernel::check_neuron_inputs(where, x, v_th, v0);
    const at::Tensor v0c = in.v0.defined() ? in.v0.contiguous() : at::Tensor();
    return run_forward_kernel(where, in.x, in.v_th, v0c, to_params(o), in.shape, in.vth_kind, in.v0_kind,
                              x_add.contiguous());
}

at::Tensor neuron_forward_to_sink(const at::Tensor & x, const at::Tensor & x_add, int64_t repeat,
                                  const at::Tensor & v_th, const at::Tensor & v0, const at::Tensor & alpha,
                                  const neuron_options & opt, const spike_sink_fn & sink, int64_t align) {
    const std::string where = "neuron_forward_to_sink";
    if (!sink) fail(where, "no sink given");
    if (align < 1) fail(where, "align must be >= 1, got " + std::to_string(align));
    if (repeat < 0) fail(where, "repeat must be >= 0, got " + std::to_string(repeat));
    if (x.defined() && x.scalar_type() != at::kFloat) fail(where, "x must be float32");
    if (x_add.defined() && repeat > 0) fail(where, "x_add cannot be added to a repeated step");
    const neuron_options o = inference_options(where, x, x_add, v_th, v0, alpha, opt, "");
    const kernel::neuron_inputs in = check_inputs(where, x, v_th, v0, repeat);
    const at::Tensor v0c = in.v0.defined() ? in.v0.detach().contiguous() : at::Tensor();
    const at::Tensor add = x_add.defined() ? x_add.contiguous() : at::Tensor();
    at::Tensor v = at::empty(one_step(in.x, in.shape), in.x.options());
    kernel::spike_sink<float> ks;
    ks.ctx = const_cast<spike_sink_fn *>(&sink);
    ks.align = align;
    ks.fn = [](void * c, int64_t t, int64_t j0, const float * row, int64_t n) {
        (*static_cast<const spike_sink_fn *>(c))(t, j0, row, n);
    };
    const bool finite = kernel::neuron_forward_kernel<float>(
        to_params(o), in.shape, in.x.data_ptr<float>(), fill_of<float>(in.v_th, in.vth_kind),
        fill_of<float>(v0c, in.v0_kind), nullptr, v.data_ptr<float>(), add.defined() ? add.data_ptr<float>() : nullptr,
        &ks);
    if (!finite) {
        fail(where, std::string(add.defined() ? "NaN in x, x_add or v0" : "NaN in x or v0") +
                        " (it reached the membrane potential)");
    }
    return v;
}

neuron_result neuron_step(const at::Tensor & x, const at::Tensor & v_th, const at::Tensor & v,
                          const neuron_options & opt) {
    if (!x.defined()) fail("neuron_step", "x is undefined");
    if (x.dim() < 1) fail("neuron_step", "x is 0-d; expected one step [N, ...]");
    neuron_result r = run_fused("neuron_step", x.unsqueeze(0), v_th, v, at::Tensor(), opt);
    r.spikes = r.spikes.squeeze(0);
    return r;
}

at::Tensor integrator_forward(const at::Tensor & x, double alpha, const at::Tensor & v0) {
    const std::string where = "integrator_forward";
    const kernel::neuron_inputs in =
        kernel::check_neuron_inputs(where, x, at::scalar_tensor(1.0, x.defined() ? x.options() : at::kFloat), v0);
    // v(t+1) = alpha * v(t) + I(t), no spikes; v0 broadcasts against a step.
    at::Tensor v = kernel::broadcast_to_step(in.v0, in.v0_kind, x.dim() - 1);
    std::vector<at::Tensor> out;
    out.reserve(static_cast<size_t>(in.shape.T));
    for (const at::Tensor & xt : x.unbind(0)) {
        v = v.defined() ? v.mul(alpha).add(xt) : xt;
        out.push_back(v);
    }
    if (at::isnan(out.back()).any().item<bool>()) fail(where, "NaN in x or v0 (it reached the potential)");
    return at::stack(out);
}

} // namespace snnkit
