// tests/train/toy_task.h: a small separable image task and a tiny conv net for the training tests.
#pragma once

#include "snnkit/data/dataset.h"
#include "snnkit/nn/graph.h"
#include "snnkit/train/trainer.h"

#include <filesystem>
#include <string>

namespace snnkit_test {

using namespace snnkit;

// 2-class images 1x8x8: class 1 has a bright left half, class 0 a bright right half, plus noise.
inline dataset toy(int64_t n, uint64_t seed) {
    at::manual_seed(seed);
    dataset d;
    d.num_classes = 2;
    d.labels = at::randint(2, {n}, at::kLong);
    at::Tensor img = at::randint(0, 90, {n, 1, 8, 8}, at::kLong);
    at::Tensor left = d.labels.view({n, 1, 1, 1}).eq(1);
    img.slice(3, 0, 4).add_(left.to(at::kLong) * 120);
    img.slice(3, 4, 8).add_(left.logical_not().to(at::kLong) * 120);
    d.images = img.to(at::kByte);
    return d;
}

inline graph tiny(uint64_t seed) {
    graph_builder b({1, 8, 8}, 2, seed);
    b.conv2d("conv", 1, 4, 3, 1, 1, false);
    b.batch_norm("bn", 4);
    b.relu("relu");
    b.avg_pool("pool", 2, 2);
    b.flatten("flat");
    b.dropout("drop", 0.2);
    b.linear("fc", 64, 2);
    return b.finish("custom");
}

// 3 epochs of SGD on batches of 32 with a 1-pixel random crop, checkpoints into dir ("" = none).
inline trainer_options toy_options(const std::string & dir, double lr, uint64_t seed) {
    trainer_options o;
    o.epochs = 3;
    o.batch_size = 32;
    o.optim.lr = lr;
    o.seed = seed;
    o.augment.pad_crop = 1;
    o.augment.hflip = false;
    o.out_dir = dir;
    o.progress = false;
    return o;
}

// An empty scratch directory under the build directory.
inline std::string fresh_dir(const std::string & name) {
    const std::string d = std::string(SNNKIT_BINARY_DIR) + "/" + name;
    std::filesystem::remove_all(d);
    return d;
}

} // namespace snnkit_test
