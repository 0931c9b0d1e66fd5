// snnkit/neuron/neuron_kernel.h: the fused LIF/IF kernel over raw pointers (internal to the neuron engine).
//
// Layout: x, spikes, grad_x are contiguous [T, M] (x and grad_x [M] with neuron_shape::x_repeated) (M = neurons per step = N * C * S, S = product of the
// dims after the channel dim). A per-neuron quantity q (V_th, v0) is given as a `neuron_fill`:
//   zero     q_j = 0
//   scalar   q_j = data[0]
//   channel  q_j = data[(j / S) % C]
//   neuron   q_j = data[j]
// The kernel splits the M neurons into blocks of contiguous neurons and runs each block over all T steps
// (at::parallel_for over blocks), so the inner loop walks contiguous memory and vectorises.
//
// Forward writes spikes and the final v; it saves nothing. Backward recomputes the forward of its block into
// a small per-thread buffer (T x block potentials, cache resident) and then runs BPTT in reverse; so the
// autograd node only keeps x (an input) and v0: no [T, M] tensor is stored for backward.
#pragma once

#include "snnkit/neuron/surrogate.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace snnkit::kernel {

enum class fill_kind { zero, scalar, channel, neuron };

template <typename T>
struct neuron_fill {
    /// how q_j is looked up (see the file comment)
    fill_kind kind = fill_kind::zero;
    /// the values (unused for zero)
    const T * data = nullptr;
};

struct neuron_shape {
    /// time steps
    int64_t T = 0;
    /// neurons per step
    int64_t M = 0;
    /// channel count (1 when there is no channel dim)
    int64_t C = 1;
    /// neurons per channel row (product of the dims after the channel dim)
    int64_t S = 1;
    /// x holds one step [M], the input of every one of the T steps (a static input such as an image's first
    /// convolution), instead of [T, M]; backward then writes dL/dx as that step's gradient, the sum over the steps
    bool x_repeated = false;
};

struct neuron_params {
    /// leak factor alpha
    double alpha = 1.0;
    /// soft (true) or hard (false) reset
    bool soft = true;
    /// no gradient through theta in the reset term
    bool detach_reset = false;
    /// spikes carry V_th instead of 1
    bool spike_vth = false;
    /// surrogate kind, parameter in force and Dspike window
    surrogate_kind kind = surrogate_kind::atan;
    double param = 2.0;
    double width = 1.0;
};

// Takes a forward's spikes as the kernel makes them, in place of a [T, M] output: fn is called once per block and
// step with the n spikes (0/1, or V_th) of neurons j0 .. j0 + n - 1 at step t, from the thread that made them
// (several threads call it at once, each for its own blocks). Blocks hold whole multiples of `align` neurons (but
// the last when M is not one), so j0 is a multiple of it. The row is the kernel's scratch, valid during the call.
template <typename T>
struct spike_sink {
    /// the consumer
    void (*fn)(void * ctx, int64_t t, int64_t j0, const T * row, int64_t n) = nullptr;
    /// its state, passed back as ctx
    void * ctx = nullptr;
    /// the blocks' unit (>= 1): a consumer's whole rows of neurons
    int64_t align = 1;
};

// Forward over all T. spikes [T, M] and v_out [M] are written. Returns false when a NaN reached the membrane
// potential (a NaN in x or v0 stays in v for good, so checking v_out finds it at no extra cost). x_add (may be
// null, laid out as x): the input is x + x_add, each sum formed as a separate add would form it.
// sink (may be null): the spikes go to it instead, and spikes may be null.
template <typename T>
bool neuron_forward_kernel(const neuron_params & p, const neuron_shape & sh, const T * x, neuron_fill<T> vth,
                           neuron_fill<T> v0, T * spikes, T * v_out, const T * x_add = nullptr,
                           const spike_sink<T> * sink = nullptr);

// BPTT over all T in reverse. grad_spikes [T, M] is required; grad_v [M] (grad of the final v) may be null.
// Writes grad_x [T, M] and, when not null, grad_v0 [M] (the gradient of the per-neuron initial potential)
// and *grad_alpha (dL/dalpha of the layer's one leak factor, summed over all neurons and steps).
template <typename T>
void neuron_backward_kernel(const neuron_params & p, const neuron_shape & sh, const T * x, neuron_fill<T> vth,
                            neuron_fill<T> v0, const T * grad_spikes, const T * grad_v, T * grad_x, T * grad_v0,
                            double * grad_alpha = nullptr);

// Neurons per block for T steps of element size `elem` (backward: bounded so its T x block buffer stays in L2).
int64_t neuron_block_size(int64_t T, int64_t elem, bool backward);

// ---- Shared by the fused path and the reference (defined in neuron.cpp) ----

// Inputs after validation: x contiguous, v_th detached and in x's dtype, v0 in x's dtype (still autograd-aware).
struct neuron_inputs {
    at::Tensor x;
    at::Tensor v_th;
    at::Tensor v0;
    neuron_shape shape;
    fill_kind vth_kind = fill_kind::scalar;
    fill_kind v0_kind = fill_kind::zero;
};

// Checks x [T, N, ...], v_th and v0 (see neuron.h); throws snnkit::error naming `where` and the problem.
// copy_x = false leaves neuron_inputs::x undefined (the caller lays x out itself).
neuron_inputs check_neuron_inputs(const std::string & where, const at::Tensor & x, const at::Tensor & v_th,
                                  const at::Tensor & v0, bool copy_x = true);

// q (a V_th or v0 of the given kind) as a tensor that broadcasts against one step [N, C, ...] of step_dim
// dims: scalar -> 0-d, channel -> [C, 1, ..., 1], neuron -> q itself, zero -> undefined.
at::Tensor broadcast_to_step(const at::Tensor & q, fill_kind kind, int64_t step_dim);

} // namespace snnkit::kernel
