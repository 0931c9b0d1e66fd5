// snnkit/interop/onnx_model.cpp
#include "snnkit/interop/onnx_model.h"

#include "snnkit/core/error.h"
#include "snnkit/core/rng.h"
#include "snnkit/core/shape_text.h"
#include "snnkit/interop/onnx_import.h"
#include "snnkit/nn/act_stats.h"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>

namespace snnkit {

onnx_model load_onnx_model(const std::string & path, const onnx_model_options & opt) {
    onnx_model r;
    r.g = import_onnx(path);
    augment_options pre = dataset_preprocess(opt.data.name);
    if (!opt.mean.empty() || !opt.std.empty()) {
        if (opt.mean.size() != opt.std.size() || opt.mean.empty()) {
            fail("--mean/--std", "give both, with one value per channel");
        }
        pre.mean = opt.mean;
        pre.std = opt.std;
    }
    const dataset train = load_dataset(opt.data, split::train);
    const std::vector<int64_t> img(train.images.sizes().begin() + 1, train.images.sizes().end());
    if (img != r.g.input_shape) {
        fail(path, "takes inputs of shape " + shape_text(r.g.input_shape) + " per sample, dataset '" + opt.data.name +
                       "' has images of " + shape_text(img) +
                       (r.g.input_shape.size() == 1 ? " (the model must take images, [C, H, W]; flatten inside it)" : ""));
    }
    if (train.num_classes > 0 && r.g.num_classes != train.num_classes) {
        fail(path, "has " + std::to_string(r.g.num_classes) + " outputs, dataset '" + opt.data.name + "' has " +
                       std::to_string(train.num_classes) + " classes");
    }
    if (!pre.mean.empty() && static_cast<int64_t>(pre.mean.size()) != img[0]) {
        fail("--mean/--std", std::to_string(pre.mean.size()) + " values for " + std::to_string(img[0]) + " channels");
    }
    r.stats_images = std::min<int64_t>(opt.stats_samples, train.images.size(0));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(opt.seed, 0x0a77));
    const at::Tensor idx = at::randperm(train.images.size(0), gen, at::kLong).slice(0, 0, r.stats_images);
    r.stats_layers = record_activation_stats(r.g, make_batch(train.images, idx, pre, 0));
    r.meta.kind = "ann";
    r.meta.source = "onnx";
    r.meta.onnx_file = std::filesystem::absolute(path).string();
    r.meta.dataset = opt.data.name;
    r.meta.mean = pre.mean;
    r.meta.std = pre.std;
    r.meta.stats_samples = r.stats_images;
    return r;
}

} // namespace snnkit
