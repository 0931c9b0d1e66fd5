// snnkit/neuron/neuron.h: the LIF / IF neuron, explicit iteration, multi-step and single-step.
//
//   charge: v_temp(t+1) = alpha * v(t) + I(t)            (alpha = 1: IF)
//   fire:   theta       = [v_temp >= V_th]
//   reset:  soft  v(t+1) = v_temp - theta * V_th
//           hard  v(t+1) = v_temp * (1 - theta)
//
// Tensors are time-major: x is [T, N, ...]; per-step state v is [N, ...]. State is explicit: the initial
// potential goes in, the final potential comes out. Nothing is hidden inside a module.
// Gradients flow to x (and to v0 when it requires grad) by BPTT through v, including the reset path
// unless detach_reset is set; the spike function's derivative is the chosen surrogate.
#pragma once

#include "snnkit/neuron/surrogate.h"

#include <ATen/ATen.h>

#include <functional>
#include <string>

namespace snnkit {

enum class reset_mode { soft, hard };

struct neuron_options {
    /// leak factor alpha in v_temp = alpha * v + I; 1 gives the IF neuron
    double alpha = 1.0;
    /// soft (subtract V_th) or hard (to zero) reset after a spike
    reset_mode reset = reset_mode::soft;
    /// treat the reset term as a constant in backward (no gradient through theta in the reset)
    bool detach_reset = false;
    /// spikes carry the value V_th instead of 1 (ANN->SNN conversion uses V_th-valued spikes)
    bool spike_vth = false;
    /// surrogate gradient of the spike function
    surrogate_options surrogate;
};

// Fails (naming `where`) unless alpha is finite, the surrogate parameter finite and >= 0 (0: the kind's
// default) and the surrogate width finite and > 0: a width of 0 made every Dspike gradient NaN.
void check_neuron_options(const std::string & where, const neuron_options & opt);

struct neuron_result {
    at::Tensor spikes;  ///< [T, N, ...], 0/1 (or 0/V_th), dtype of x
    at::Tensor v;       ///< [N, ...], membrane potential after the last step
};

// Multi-step neuron over x [T, N, ...] (T >= 1).
//   v_th: 0-d scalar tensor, or [C] per channel (C = x.size(2), the channel dim of each step).
//   v0:   undefined (zeros), 0-d scalar, [C] per channel, or [N, ...] per neuron.
// Runs the fused kernel (autograd-aware). Throws snnkit::error on NaN input, T = 0, or bad shapes.
neuron_result neuron_forward(const at::Tensor & x, const at::Tensor & v_th, const at::Tensor & v0,
                             const neuron_options & opt);

// The same with the leak factor as a tensor (PLIF: a learnable membrane decay per layer): alpha is 0-d (or
// one element); its value replaces opt.alpha, and when it requires grad backward also gives dL/dalpha, summed
// over every neuron and step by the fused kernel. alpha undefined: exactly the overload above.
neuron_result neuron_forward(const at::Tensor & x, const at::Tensor & v_th, const at::Tensor & v0,
                             const at::Tensor & alpha, const neuron_options & opt);

// The multi-step neuron on an input that is the same at each of T steps (a static input: the first
// convolution of an image under direct encoding): x_step [N, ...] is read at every step, not copied T times.
// Equal to neuron_forward(x_step.unsqueeze(0).expand({T, N, ...}), ...): spikes [T, N, ...], v [N, ...]; the
// gradient of x_step is the sum of the T steps' gradients. alpha as in the overload above (may be undefined).
neuron_result neuron_forward_repeated(const at::Tensor & x_step, int64_t T, const at::Tensor & v_th,
                                      const at::Tensor & v0, const at::Tensor & alpha, const neuron_options & opt);

// Inference (no autograd: fails when gradients are on and an input requires one): the multi-step neuron on
// x + x_add, x_add the same sizes and dtype as x [T, N, ...], each sum formed inside the kernel as a separate add
// forms it, never stored (a residual add whose only reader is a spike layer). Equal, bit for bit, to
// neuron_forward(x + x_add, v_th, v0, alpha, opt); alpha may be undefined.
neuron_result neuron_forward_sum(const at::Tensor & x, const at::Tensor & x_add, const at::Tensor & v_th,
                                 const at::Tensor & v0, const at::Tensor & alpha, const neuron_options & opt);

// Receives spikes from neuron_forward_to_sink as the kernel makes them: (t, j0, row, n) = the n spikes (0/1, or
// V_th) of step t's neurons j0 .. j0 + n - 1, numbered as in one contiguous step [N, ...]; j0 and n are whole
// multiples of the call's `align` (n but the last when the step is not), and row is valid during the call only.
// Called from several threads at once, each for its own neurons.
using spike_sink_fn = std::function<void(int64_t t, int64_t j0, const float * row, int64_t n)>;

// Inference (as neuron_forward_sum): the multi-step neuron whose spikes go to `sink` instead of into a [T, N, ...]
// tensor, for a consumer that keeps them in another form (bits: the executor's gathered convolutions). x float:
// [T, N, ...] with repeat = 0 (x_add: undefined, or a second input added as neuron_forward_sum adds it), or one step
// [N, ...] that is every one of repeat steps (x_add undefined). align (>= 1): the sink's unit of neurons (its rows).
// Returns the final potential [N, ...]; the spikes are those of neuron_forward on the same input, bit for bit. Fails
// as neuron_forward does (NaN, shapes).
at::Tensor neuron_forward_to_sink(const at::Tensor & x, const at::Tensor & x_add, int64_t repeat,
                                  const at::Tensor & v_th, const at::Tensor & v0, const at::Tensor & alpha,
                                  const neuron_options & opt, const spike_sink_fn & sink, int64_t align = 1);

// One step: x [N, ...], v [N, ...] (or undefined = zeros). Same kernel with T = 1.
neuron_result neuron_step(const at::Tensor & x, const at::Tensor & v_th, const at::Tensor & v,
                          const neuron_options & opt);

// The plain per-step ATen implementation (autograd through ATen ops): the tests' oracle.
neuron_result neuron_forward_reference(const at::Tensor & x, const at::Tensor & v_th, const at::Tensor & v0,
                                       const neuron_options & opt);
// The reference with a tensor alpha (0-d; autograd gives its gradient through the ATen ops).
neuron_result neuron_forward_reference(const at::Tensor & x, const at::Tensor & v_th, const at::Tensor & v0,
                                       const at::Tensor & alpha, const neuron_options & opt);

// Analog read-out (the "integrator" for the last layer): v(t+1) = alpha * v(t) + I(t), no spikes;
// returns the potentials [T, N, ...] after each step (autograd through ATen ops).
at::Tensor integrator_forward(const at::Tensor & x, double alpha, const at::Tensor & v0);

} // namespace snnkit
