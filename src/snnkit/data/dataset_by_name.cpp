// snnkit/data/dataset_by_name.cpp
#include "snnkit/data/dataset_by_name.h"

#include "snnkit/core/error.h"

#include <filesystem>

namespace snnkit {

std::vector<std::string> dataset_names() { return {"fmnist", "mnist", "cifar10", "cifar100", "imagefolder"}; }

std::string dataset_dir(const dataset_spec & spec) {
    if (!spec.dir.empty()) {
        return spec.dir;
    }
    if (spec.name == "fmnist") {
        return "/usr/share/datasets/fashion-mnist";
    }
    fail("--dataset " + spec.name, "needs --data DIR");
}

dataset load_dataset(const dataset_spec & spec, split s) {
    const std::string dir = dataset_dir(spec);
    if (spec.name == "fmnist" || spec.name == "mnist") {
        return load_mnist_dir(dir, s);
    }
    // CIFAR as an image folder (dir/train/<class>/...), e.g. the JPEG copy in shared/datasets, or binary.
    const bool folder = std::filesystem::is_directory(dir + "/train") || std::filesystem::is_directory(dir + "/test");
    if (spec.name == "cifar10") {
        return folder ? load_image_folder(dir, s, spec.folder) : load_cifar10_bin(dir, s);
    }
    if (spec.name == "cifar100") {
        return folder ? load_image_folder(dir, s, spec.folder) : load_cifar100_bin(dir, s);
    }
    if (spec.name == "imagefolder") {
        return load_image_folder(dir, s, spec.folder);
    }
    fail("--dataset " + spec.name, "unknown dataset (known: fmnist, mnist, cifar10, cifar100, imagefolder)");
}

augment_options dataset_preprocess(const std::string & name) {
    augment_options a;
    if (name == "fmnist") {
        a.mean = {0.2860f};
        a.std = {0.3530f};
    } else if (name == "mnist") {
        a.mean = {0.1307f};
        a.std = {0.3081f};
    } else if (name == "cifar10") {
        a.mean = {0.4914f, 0.4822f, 0.4465f};
        a.std = {0.2470f, 0.2435f, 0.2616f};
    } else if (name == "cifar100") {
        a.mean = {0.5071f, 0.4865f, 0.4409f};
        a.std = {0.2673f, 0.2564f, 0.2762f};
    } else {
        a.mean = {0.485f, 0.456f, 0.406f};
        a.std = {0.229f, 0.224f, 0.225f};
    }
    return a;
}

augment_options dataset_augment(const std::string & name, const std::string & spec, int crop_pad) {
    augment_options a = dataset_preprocess(name);
    std::string s = spec;
    if (s == "default") {
        s = name == "fmnist" || name == "mnist" ? "none" : "crop+flip";
    }
    if (s != "none" && s != "crop" && s != "flip" && s != "crop+flip") {
        fail("--augment " + spec, "unknown augmentation (known: default, none, crop, flip, crop+flip)");
    }
    const bool crop = s == "crop" || s == "crop+flip";
    if (crop && (crop_pad < 1 || crop_pad > 16)) {
        fail("--crop-pad " + std::to_string(crop_pad), "the random crop's padding must be 1 to 16 pixels");
    }
    a.pad_crop = crop ? crop_pad : 0;
    a.hflip = s == "flip" || s == "crop+flip";
    return a;
}

std::string augment_name(const augment_options & a) {
    const std::string crop = a.pad_crop > 0 ? "crop (pad " + std::to_string(a.pad_crop) + ")" : "";
    if (crop.empty()) {
        return a.hflip ? "flip" : "none";
    }
    return a.hflip ? crop + " + flip" : crop;
}

void check_same_classes(const dataset & train, const dataset & test, const std::string & where) {
    const auto & tc = train.class_names;
    const auto & vc = test.class_names;
    if (tc.empty() || vc.empty() || tc == vc) {
        return;
    }
    size_t k = 0;
    while (k < tc.size() && k < vc.size() && tc[k] == vc[k]) {
        ++k;
    }
    const auto name_at = [k](const std::vector<std::string> & v) {
        return k < v.size() ? "'" + v[k] + "'" : std::string("none");
    };
    fail(where, "the train and test splits have different class folders (" + std::to_string(tc.size()) + " vs " +
                    std::to_string(vc.size()) + "; first difference: train " + name_at(tc) + ", test " +
                    name_at(vc) + ")");
}

} // namespace snnkit
