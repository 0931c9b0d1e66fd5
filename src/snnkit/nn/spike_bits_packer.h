// snnkit/nn/spike_bits_packer.h: a spike node's output packed as bits while the neuron kernel makes it.
//
// A convolution that gathers weight rows (spike_gather.h) reads its input as bits; packing a spike node's float
// output costs a [T, N, C, H, W] float tensor written, faulted in (fresh memory: the kernel zeroes every page) and
// read again. spike_bits_packer takes the neuron kernel's spikes step by step as they are made
// (neuron_forward_to_sink), while the block is still in the core's cache, and packs them directly, as they are or
// average-pooled over windows: the float spikes are never stored. The bits are those spike_gather_pack (or
// spike_gather_pool_pack) makes of the float output, by the same row functions.
#pragma once

#include "snnkit/nn/spike_gather.h"

#include <ATen/ATen.h>

#include <array>
#include <atomic>
#include <cstdint>

namespace snnkit {

// Where the spikes of one spike node over T steps go: N images a step, each [H, W, C] channels last (the neuron
// kernel's view [T, N * H * W, C] of a channels-last input), packed with pad_left / pad_right zero positions on each
// row as spike_gather_pack packs them, or, with a window larger than 1 x 1, as spike_gather_pool_pack packs their
// average pooling over windows side by side (spike_bits::group = kh * kw).
struct spike_bits_layout {
    /// time steps and images per step
    int64_t T = 0, N = 0;
    /// the map and its channels
    int64_t H = 0, W = 0, C = 0;
    /// zero positions left and right of each (pooled) row
    int64_t pad_left = 0, pad_right = 0;
    /// the pooling window (kh, kw): {1, 1} packs the spikes as they are
    std::array<int64_t, 2> window{1, 1};
};

// Whether spike_bits_packer takes this layout's map: a window spike_gather_pool_fits takes that tiles the map
// (H and W multiples of it, so every spike lies in one whole window).
bool spike_bits_packer_fits(int64_t H, int64_t W, std::array<int64_t, 2> window);

class spike_bits_packer {
  public:
    /// allocates the zeroed bits [T * N, H / kh, pad_left + W / kw + pad_right, ceil(C kh kw / 8)] (+ 8 spare bytes);
    /// fails naming the problem when the layout does not fit. portable: the plain loops, not AVX-512
    explicit spike_bits_packer(const spike_bits_layout & layout, bool portable = false);

    /// the neurons take() wants in one piece: kh rows of W positions of C channels
    int64_t align() const { return l_.window[0] * l_.W * l_.C; }

    /// the sink (neuron_forward_to_sink with align()): the n spikes of step t's neurons j0 .. j0 + n - 1,
    /// numbered within one step [N, H, W, C]; j0 and n multiples of align(). Thread-safe for disjoint neurons
    void take(int64_t t, int64_t j0, const float * row, int64_t n);

    /// the packed spikes with their count; the packer is spent
    spike_bits finish();

  private:
    spike_bits_layout l_;
    int64_t rows_ = 0, Wp_ = 0, Cb_ = 0;
    bool portable_ = false;
    at::Tensor buf_;
    uint8_t * base_ = nullptr;
    std::atomic<int64_t> ones_{0};
};

// The float spikes the bits stand for: [images, C, H, W] with channels-last strides (H, W the map before any
// pooling: window is the packing's), amp_c where a spike is (amp: undefined = 1, one value, or [C]) and 0 elsewhere.
// For a consumer that runs the dense kernel after all (too many spikes for gathering).
at::Tensor spike_bits_unpack(const spike_bits & bits, int64_t H, int64_t W, std::array<int64_t, 2> window,
                             const at::Tensor & amp);

} // namespace snnkit
