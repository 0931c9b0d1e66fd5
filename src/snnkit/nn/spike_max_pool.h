// snnkit/nn/spike_max_pool.h: spiking max-pooling for converted SNNs (Rueckauer et al., "Conversion of
// continuous-valued deep networks to efficient event-driven networks for image classification", Front.
// Neurosci. 2017): each pooling window passes on, at every step, the input of the neuron whose accumulated
// input (its spike count times its spike amplitude) is the largest so far, the current step included. Its
// output rate then follows the max of the input rates, as the ANN's max-pool does on activations.
//
// Ties keep the input gated at the step before (the first maximal one at the first step). With that rule the
// output's accumulated sum equals the window's largest accumulated input sum at every step whenever the inputs
// of a window are spikes of one amplitude (a converted layer's spikes: V_th per layer or per channel): the
// gate moves only to an input that has just spiked past the leader. A per-step max (or a gate that switches
// on ties) would pass extra spikes of inputs that only draw level.
//
// Time-first: x [T, N, C, H, W] -> out [T, N, C, H', W'] (H', W' as at::max_pool2d). The state (the
// accumulated input and the gate) goes in and comes out, so a simulation can be continued.
#pragma once

#include <ATen/ATen.h>

#include <array>

namespace snnkit {

struct spike_max_pool_options {
    /// pooling window (h, w)
    std::array<int64_t, 2> kernel{2, 2};
    /// stride (h, w)
    std::array<int64_t, 2> stride{2, 2};
    /// padding (h, w); padded positions never win the gate
    std::array<int64_t, 2> padding{0, 0};
};

struct spike_max_pool_state {
    /// accumulated input of every input neuron, [N, C, H, W] (undefined: zeros)
    at::Tensor sum;
    /// gated input of every output neuron as a flat index into H*W, int64 [N, C, H', W'] (undefined: none yet)
    at::Tensor gate;
};

struct spike_max_pool_result {
    /// the gated inputs at every step, [T, N, C, H', W']
    at::Tensor out;
    /// the state after the last step
    spike_max_pool_state state;
};

// Runs the gated max-pool over the T steps of x [T, N, C, H, W] from `init` (default: nothing seen yet).
// Fails with one line naming the problem for a wrong rank, a state of the wrong shape, or a window that does
// not fit.
spike_max_pool_result spike_max_pool(const at::Tensor & x, const spike_max_pool_options & opt,
                                     const spike_max_pool_state & init = {});

} // namespace snnkit
