// snnkit/nn/snn_chunk.h: how many images an inference run of the SNN executor simulates at once.
//
// The executor holds each layer's value over all T steps of the batch ([T*N, ...]), so on a network whose
// layers do little work per activation byte (few channels: ResNet-20's 16-64, the zoo cnn) every layer streams
// tensors of tens of MB through memory. Run image by image group instead, the whole network deep, and those
// tensors stay in the cache: measured here (2 threads, T = 32, batch 16, bench/bench_snn_infer.cpp) ResNet-20
// gains 8 % on float and 36 % on AMX convolutions with groups of 2 - 4 images, the zoo cnn 20 / 33 % with 4 - 8.
// The groups then run side by side, one per thread (snn_forward, parallel_items.h), where nothing forbids it.
// A network with much work per byte (VGG-16: wide layers, 59 MB of weights, read once per group) loses instead
// (15 % at 1 image per group), so it keeps its batch. Images never interact in inference (BatchNorm uses its
// running statistics), so the outputs are the same either way, up to the order of float sums.
#pragma once

#include "snnkit/nn/graph.h"

#include <ATen/ATen.h>

namespace snnkit {

// One sample at one step of a simulation, measured by running it (float, no AMX or sparse layers).
struct snn_profile {
    /// bytes of the largest value a node outputs
    int64_t largest_bytes = 0;
    /// bytes of all the values the nodes output (what a run writes)
    int64_t activation_bytes = 0;
    /// multiply-adds of its convolutions and linear layers
    int64_t macs = 0;
};

// The profile of g (an SNN) on one sample [1, ...input_shape]. Remembered per graph (address, node count, first
// parameter's storage and input shape), so a loop over batches pays for it once; a stale entry (a graph freed and
// another made at its address) can only misjudge the speed, never change a result.
snn_profile snn_profile_of(const graph & g);

/// multiply-adds per activation byte below which a network is bound by memory traffic and is run in groups
constexpr double snn_chunk_max_intensity = 48.0;
/// bytes of a group's largest value over T steps that the groups aim at (a few MB: the caches of a CPU's cores)
constexpr int64_t snn_chunk_target_bytes = int64_t(8) << 20;

// Images per group for a batch of n over T steps: n itself when the profile's multiply-adds per activation
// byte reach snn_chunk_max_intensity, else the most images whose largest value over T stays within
// snn_chunk_target_bytes (at least 1), evened out over the groups (16 images at 5 per group run as 4 x 4).
// workers > 1: the groups run side by side on that many threads (parallel_items.h) and share the cache, so each
// aims at snn_chunk_target_bytes / workers, and there is a group for every worker where the batch allows (16
// images that fit the target on 2 workers: 2 x 8).
int64_t snn_chunk_images(const snn_profile & p, int64_t T, int64_t n, int64_t workers = 1);

} // namespace snnkit
