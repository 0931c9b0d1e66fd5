// snnkit/neuron/neuron_reference.cpp: the plain per-step ATen neuron, the tests' oracle for the fused kernel.
//
// Every step is ordinary ATen ops, so BPTT is done by autograd; only the spike function is a custom node,
// whose backward multiplies by surrogate_grad(s, u - V_th) in tensor form (surrogate.cpp), a formula written
// independently of the kernel's hand-written one.
//   u = alpha * v + x_t ;  theta = spike(u, V_th) ;  r = theta (or theta.detach() with detach_reset)
//   soft: v = u - r * V_th       hard: v = u * (1 - r)       s_t = theta (or theta * V_th)
#include "snnkit/neuron/neuron.h"

#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron_kernel.h"

#include <torch/csrc/autograd/custom_function.h>

#include <vector>

namespace snnkit {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// theta = [u >= V_th]; d theta / d u = surrogate_grad(u - V_th). V_th gets no gradient.
struct spike_function : public torch::autograd::Function<spike_function> {
    static at::Tensor forward(AutogradContext * ctx, const at::Tensor & u, const at::Tensor & v_th,
                              const surrogate_options & s) {
        ctx->save_for_backward({u, v_th});
        ctx->saved_data["kind"] = static_cast<int64_t>(s.kind);
        ctx->saved_data["param"] = s.param;
        ctx->saved_data["width"] = s.width;
        return u.ge(v_th).to(u.scalar_type());
    }

    static variable_list backward(AutogradContext * ctx, variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        surrogate_options s;
        s.kind = static_cast<surrogate_kind>(ctx->saved_data["kind"].toInt());
        s.param = ctx->saved_data["param"].toDouble();
        s.width = ctx->saved_data["width"].toDouble();
        return {grads[0] * surrogate_grad(s, saved[0] - saved[1]), at::Tensor(), at::Tensor()};
    }
};

} // namespace

neuron_result neuron_forward_reference(const at::Tensor & x, const at::Tensor & v_th, const at::Tensor & v0,
                                       const neuron_options & opt) {
    return neuron_forward_reference(x, v_th, v0, at::Tensor(), opt);
}

neuron_result neuron_forward_reference(const at::Tensor & x, const at::Tensor & v_th, const at::Tensor & v0,
                                       const at::Tensor & alpha, const neuron_options & opt) {
    check_neuron_options("neuron_forward_reference", opt);
    const at::Tensor a = alpha.defined() ? alpha.reshape({}).to(x.scalar_type()) : at::Tensor();
    const kernel::neuron_inputs in = kernel::check_neuron_inputs("neuron_forward_reference", x, v_th, v0);
    const int64_t step_dim = x.dim() - 1;
    const at::Tensor vth = kernel::broadcast_to_step(in.v_th, in.vth_kind, step_dim);
    at::Tensor v = in.v0_kind == kernel::fill_kind::zero ? at::zeros(x.sizes().slice(1), x.options())
                                                         : kernel::broadcast_to_step(in.v0, in.v0_kind, step_dim);
    std::vector<at::Tensor> spikes;
    spikes.reserve(static_cast<size_t>(x.size(0)));
    for (const at::Tensor & xt : in.x.unbind(0)) {
        const at::Tensor u = (a.defined() ? v.mul(a) : v.mul(opt.alpha)).add(xt); // charge
        const at::Tensor theta = spike_function::apply(u, vth, opt.surrogate); // fire
        const at::Tensor r = opt.detach_reset ? theta.detach() : theta;
        v = opt.reset == reset_mode::soft ? u - r * vth : u * (1.0 - r);     // reset
        spikes.push_back(opt.spike_vth ? theta * vth : theta);
    }
    if (at::isnan(v).any().item<bool>()) fail("neuron_forward_reference", "NaN in x or v0 (it reached the membrane potential)");
    return {at::stack(spikes), v};
}

} // namespace snnkit
