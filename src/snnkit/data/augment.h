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

// The random draw make_batch uses for one sample (exposed for tests and reference implementations).
// With pad p = opt.pad_crop, the output pixel (y, x) of a C x H x W image is
//     xs = flip ? W - 1 - x : x;   value = image[c][y + dy - p][xs + dx - p]   (0 outside the image)
// i.e. a crop at offset (dy, dx) in [0, 2p] of the zero-padded image, then a horizontal flip.
// dy = dx = p without cropping; flip = false without hflip.
struct augment_draw {
    int dy = 0;
    int dx = 0;
    bool flip = false;
};
augment_draw draw_augment(uint64_t seed, int64_t index, const augment_options & opt);

} // namespace snnkit
