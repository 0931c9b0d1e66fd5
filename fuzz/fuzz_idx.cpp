// fuzz/fuzz_idx.cpp: IDX image and label files (raw or gzipped). The input is parsed once as the images
// file (with a valid 2-label file) and once as the labels file (with a valid 2-image file).
#include "fuzz_util.h"
#include "snnkit/data/dataset.h"

namespace {
const uint8_t good_images[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
const uint8_t good_labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 7};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    using namespace snnkit_fuzz;
    static const std::string dir = make_dir("idx");
    static const std::string images = dir + "/images", labels = dir + "/labels", input = dir + "/input";
    static const bool once = (put_file(images, good_images, sizeof good_images),
                              put_file(labels, good_labels, sizeof good_labels), true);
    (void)once;
    put_file(input, data, size);
    expect_clean([&] { snnkit::load_idx(input, labels); });
    expect_clean([&] { snnkit::load_idx(images, input); });
    return 0;
}
