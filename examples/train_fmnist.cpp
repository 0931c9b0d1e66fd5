// examples/train_fmnist.cpp: train the zoo's small CNN on Fashion-MNIST with snnkit's public API,
// evaluate it, record activation statistics and save it (one page of code).
//
// usage: train_fmnist [EPOCHS] [OUT_DIR]        (data: Debian's /usr/share/datasets/fashion-mnist)
#include <snnkit/core/runtime.h>
#include <snnkit/data/dataset_by_name.h>
#include <snnkit/io/model_io.h>
#include <snnkit/nn/act_stats.h>
#include <snnkit/nn/zoo.h>
#include <snnkit/train/trainer.h>


#include <cstdio>
#include <string>

int main(int argc, char ** argv) {
    const int epochs = argc > 1 ? std::stoi(argv[1]) : 1;
    const std::string out = argc > 2 ? argv[2] : "fmnist_cnn";
    snnkit::runtime_init(2);
    try {
        snnkit::dataset_spec spec; // fmnist at its Debian location
        const snnkit::dataset train = snnkit::load_dataset(spec, snnkit::split::train);
        const snnkit::dataset test = snnkit::load_dataset(spec, snnkit::split::test);

        snnkit::zoo_options zo; // "cnn", 1x28x28, 10 classes
        snnkit::graph g = snnkit::zoo_build(zo);
        snnkit::trainer_options to;
        to.epochs = epochs;
        to.optim.lr = 0.05;
        to.augment = to.eval_preprocess = snnkit::dataset_preprocess("fmnist");
        const snnkit::train_result r = snnkit::train_loop(g, snnkit::ann_forward_fn(g), train, test, to);

        const at::Tensor idx = at::arange(1024, at::kLong);
        snnkit::record_activation_stats(g, snnkit::make_batch(train.images, idx, to.eval_preprocess, 0));
        snnkit::model_meta meta;
        meta.kind = "ann";
        meta.dataset = "fmnist";
        snnkit::save_model(out, g, meta);
        std::printf("test accuracy %.2f %% after %d epoch(s); saved to %s\n", r.test_accuracy, r.epochs, out.c_str());
    } catch (const std::exception & e) {
        std::fprintf(stderr, "train_fmnist: %s\n", e.what());
        return 1;
    }
    return 0;
}
