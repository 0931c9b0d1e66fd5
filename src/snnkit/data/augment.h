// snnkit/data/augment.h: batch preparation for training: uint8 -> float, normalise, CIFAR-style augmentation.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace snnkit {

struct augment_options {
    /// zero-padding before the random crop back to the original size (0 = no random crop)
    int pad_crop = 0;
    /// random horizontal flip with probability 1/2
    bool hflip = false;
    /// per-channel mean and std for normalisation (empty = no normalisation beyond /255)
    std::vector<float> mean;
    std::vector<float> std;
};

// Gathers images[idx] (uint8 [N, C, H, W], idx int64 [B]) into a float batch [B, C, H, W]: /255, the
// random crop with padding and flip of `opt` (each sample's draw a pure function of (seed, idx[b]), so
// batches are reproducible whatever the thread count), then (x - mean) / std. Parallel over the batch.
at::Tensor make_batch(const at::Tensor & images, const at::Tensor & idx, const augment_options & opt,
                      uint64_t seed);

} // namespace snnkit
