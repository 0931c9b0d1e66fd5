// fuzz/fuzz_image.cpp: JPEG / PNG decoding in ImageFolder (libjpeg-turbo, libpng, resize, crop). The input
// is the one image of root/train/c/; the decoder is chosen by the magic bytes, not the file name. The
// last input byte picks the resize / crop options so those paths see odd image sizes too.
#include "fuzz_util.h"
#include "snnkit/data/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    using namespace snnkit_fuzz;
    static const std::string root = make_dir("image") ;
    static const std::string file = make_dir("image/train/c") + "/x.png";
    put_file(file, data, size);
    snnkit::image_folder_options opt;
    opt.threads = 1;
    const uint8_t mode = size ? data[size - 1] : 0;
    opt.resize = (mode & 3) == 1 ? 8 : (mode & 3) == 2 ? 3 : 0;
    opt.crop = (mode & 12) == 4 ? 4 : 0;
    expect_clean([&] { snnkit::load_image_folder(root, snnkit::split::train, opt); });
    return 0;
}
