// snnkit/data/dataset.h: in-memory image classification datasets and the loaders for real formats.
//
// Every loader returns the whole split as uint8 images [N, C, H, W] and int64 labels [N]; batching,
// augmentation and normalisation happen later (snnkit/data/batcher.h, snnkit/data/augment.h).
// Bad input (missing file or directory, wrong magic, truncated file, count mismatch, undecodable
// image, absurd header sizes) throws snnkit::error with one line naming the file and the problem.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace snnkit {

struct dataset {
    at::Tensor images;                    ///< uint8 [N, C, H, W]
    at::Tensor labels;                    ///< int64 [N]
    int64_t num_classes = 0;              ///< number of classes
    std::vector<std::string> class_names; ///< optional, one per class
};

enum class split { train, test };

// IDX files (MNIST / Fashion-MNIST), raw or gzipped (".gz" or gzip magic): images idx3 uint8, labels idx1 uint8.
dataset load_idx(const std::string & images_path, const std::string & labels_path);

// MNIST-layout directory: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
dataset load_mnist_dir(const std::string & dir, split s);

// CIFAR-10 binary ("cifar-10-batches-bin": data_batch_{1..5}.bin, test_batch.bin; records 1 + 3072 bytes)
// dir may be the cifar-10-batches-bin folder or its parent.
dataset load_cifar10_bin(const std::string & dir, split s);

// CIFAR-100 binary ("cifar-100-binary": train.bin, test.bin; records 2 + 3072 bytes, fine labels).
dataset load_cifar100_bin(const std::string & dir, split s);

struct image_folder_options {
    /// resize the shorter side to this many pixels before cropping, bilinear, antialiased when shrinking (0 = no resize)
    int resize = 0;
    /// center-crop to crop x crop (0 = no crop; all images must then share one size)
    int crop = 0;
    /// decode threads (0 = all intra-op threads)
    int threads = 0;
};

// ImageFolder layout: root/<split>/<class>/<image>.{jpg,jpeg,png}; classes sorted by name.
// Decoded in parallel with libjpeg-turbo / libpng into RGB (3 channels).
dataset load_image_folder(const std::string & root, split s, const image_folder_options & opt = {});

} // namespace snnkit
