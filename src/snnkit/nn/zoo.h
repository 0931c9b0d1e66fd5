// snnkit/nn/zoo.h: the architectures snnkit builds by name.
#pragma once

#include "snnkit/nn/graph.h"

#include <string>
#include <vector>

namespace snnkit {

struct zoo_options {
    /// architecture name (see zoo_names())
    std::string arch = "cnn";
    /// one input sample's shape [C, H, W]
    std::vector<int64_t> input_shape{1, 28, 28};
    /// number of classes
    int64_t num_classes = 10;
    /// weight-initialisation seed
    uint64_t seed = 0;
    /// > 0: use clipped ReLUs at this value instead of ReLUs (Deng & Gu's source-ANN training)
    double clip = 0.0;
    /// activation: "relu" (or the clipped ReLU above) | "qcfs" (Bu et al.'s QCFS, snnkit/nn/qcfs.h)
    std::string act = "relu";
    /// qcfs: quantisation levels L
    int64_t levels = 4;
    /// qcfs: the initial lambda of every layer (train-ann resets it from activation statistics)
    double lambda = 1.0;
    /// dropout probability before the classifier where the architecture has one (< 0 = its default)
    double dropout = -1.0;
};

// Builds the named architecture:
//   cnn         small CNN for 28x28 inputs: conv16-BN-ReLU-avgpool, conv64-BN-ReLU-avgpool, fc256, fc
//   cnn-plif    the PLIF paper's Fashion-MNIST net: 2x (conv128-BN-ReLU-avgpool), dropout, fc2048, dropout, fc
//   vgg16       SNN_Calibration's CIFAR VGG-16 (avg-pool, BN, one linear classifier)
//   resnet20    SNN_Calibration's CIFAR "ResNet-20" (64/128/256 channels, 1x1 projection shortcuts)
//   resnet20-he He et al.'s CIFAR ResNet-20 (16/32/64 channels, 1x1 projection shortcuts)
//   resnet18, resnet34  ImageNet ResNets (7x7 stem, max-pool, global average pool)
//   mlp         flatten, fc128-ReLU, fc: no BatchNorm, no dropout (tests, e.g. data-parallel equivalence)
graph zoo_build(const zoo_options & opt);

// The names zoo_build accepts.
std::vector<std::string> zoo_names();

} // namespace snnkit
