// snnkit/data/dataset_by_name.h: the command line's --dataset names, default locations, the standard
// per-dataset normalisation, and the check that a dataset's train and test splits name the same classes.
#pragma once

#include "snnkit/data/augment.h"
#include "snnkit/data/dataset.h"

#include <string>
#include <vector>

namespace snnkit {

struct dataset_spec {
    /// fmnist | mnist | cifar10 | cifar100 | imagefolder
    std::string name = "fmnist";
    /// directory (empty = the default for the name: Debian's /usr/share/datasets/fashion-mnist for fmnist)
    std::string dir;
    /// imagefolder decoding options
    image_folder_options folder;
};

// Loads a split. Throws snnkit::error for unknown names or unreadable data.
dataset load_dataset(const dataset_spec & spec, split s);

// The directory load_dataset uses for this spec.
std::string dataset_dir(const dataset_spec & spec);

// Standard normalisation (mean/std per channel) of the named dataset; for imagefolder the ImageNet one.
augment_options dataset_preprocess(const std::string & name);

// Training augmentation for the dataset. spec: "default" (CIFAR / imagefolder: random crop + flip;
// (F)MNIST: none, since flipped digits change meaning), "none", "crop", "flip" or "crop+flip"; crop_pad is
// the zero-padding of the random crop (1 to 16). Throws snnkit::error naming --augment / --crop-pad.
augment_options dataset_augment(const std::string & name, const std::string & spec = "default", int crop_pad = 4);

// "none", "crop (pad P)", "flip" or "crop (pad P) + flip": what an augment_options does, for logs and JSON.
std::string augment_name(const augment_options & a);

std::vector<std::string> dataset_names();

// Fails (naming `where`) when both splits name their classes and the names differ: ImageFolder labels
// are the index of each split's sorted class folders, so a folder missing from one split would shift every
// later label of that split.
void check_same_classes(const dataset & train, const dataset & test, const std::string & where);

} // namespace snnkit
