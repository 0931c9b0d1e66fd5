// bench/bench_data.cpp: data pipeline timings.
//   (a) one Fashion-MNIST epoch of batches (batch 128) through make_batch, without and with augmentation;
//   (b) ImageFolder decode throughput on the CIFAR-10 JPEG test split with 1 and 2 threads.
// Usage: bench_data [fashion_mnist_dir] [cifar10_jpeg_tarball_or_root]
#include "snnkit/core/error.h"
#include "snnkit/data/augment.h"
#include "snnkit/data/dataset.h"
#include "snnkit/data/file_util.h"

#include <ATen/Parallel.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

double now_s() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// Process CPU time (user + system), to tell a busy machine from poor scaling.
double cpu_s() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Seconds to prepare one epoch of batches in a shuffled order (best of `reps`).
double epoch_seconds(const at::Tensor & images, const snnkit::augment_options & opt, int batch, int reps) {
    const int64_t n = images.size(0);
    at::Tensor order = at::randperm(n, at::kLong);
    double best = 1e30;
    double checksum = 0;
    for (int r = 0; r < reps; ++r) {
        double t0 = now_s();
        for (int64_t b = 0; b < n; b += batch) {
            at::Tensor idx = order.slice(0, b, std::min<int64_t>(b + batch, n));
            at::Tensor x = snnkit::make_batch(images, idx, opt, /*seed=*/r);
            checksum += x.data_ptr<float>()[0];
        }
        best = std::min(best, now_s() - t0);
    }
    if (checksum == 12345.678) std::printf(" ");  // keep the work observable
    return best;
}

// Directory holding test/<class>/*.jpg: the argument itself, or the tarball unpacked into a temp dir.
std::string cifar_root(const std::string & arg) {
    if (snnkit::detail::is_dir(arg + "/test")) return arg;
    if (!snnkit::detail::is_file(arg)) return "";
    const std::string root = (std::filesystem::temp_directory_path() / "snnkit_bench_cifar10_jpeg").string();
    if (!snnkit::detail::is_file(root + "/.unpacked_test")) {  // only the test split is needed
        std::filesystem::remove_all(root);
        std::filesystem::create_directories(root);
        std::printf("unpacking the test split of %s into %s\n", arg.c_str(), root.c_str());
        const std::string cmd = "tar xzf '" + arg + "' -C '" + root + "' test && touch '" + root + "/.unpacked_test'";
        if (std::system(cmd.c_str()) != 0) return "";
    }
    return root;
}

} // namespace

int main(int argc, char ** argv) try {
    const std::string fmnist = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    // Default: ../shared/datasets next to the repository (located from this source file's path).
    const std::string repo = std::filesystem::path(__FILE__).parent_path().parent_path().string();
    const std::string cifar = argc > 2 ? argv[2] : repo + "/../shared/datasets/cifar10-jpeg.tar.gz";

    // (a) batch preparation
    if (snnkit::detail::is_dir(fmnist)) {
        double t0 = now_s();
        snnkit::dataset d = snnkit::load_mnist_dir(fmnist, snnkit::split::train);
        std::printf("load Fashion-MNIST train (%lld images, gunzip + parse): %.3f s\n",
                    static_cast<long long>(d.images.size(0)), now_s() - t0);
        snnkit::augment_options plain;
        plain.mean = {0.2860f};
        plain.std = {0.3530f};
        snnkit::augment_options aug = plain;
        aug.pad_crop = 4;
        aug.hflip = true;
        for (int threads : {1, 2}) {
            at::set_num_threads(threads);
            std::printf("Fashion-MNIST epoch of batches (60000 images, batch 128), %d thread(s): "
                        "plain %.3f s, crop4+flip %.3f s\n",
                        threads, epoch_seconds(d.images, plain, 128, 3), epoch_seconds(d.images, aug, 128, 3));
        }
    } else {
        std::printf("Fashion-MNIST not found at %s: skipping (a)\n", fmnist.c_str());
    }

    // (b) ImageFolder decode throughput
    const std::string root = cifar_root(cifar);
    if (!root.empty()) {
        for (int threads : {1, 2}) {
            at::set_num_threads(threads);
            double best = 1e30, best_cpu = 0;
            int64_t n = 0;
            for (int r = 0; r < 3; ++r) {
                double t0 = now_s(), c0 = cpu_s();
                snnkit::dataset d = snnkit::load_image_folder(root, snnkit::split::test);
                double t = now_s() - t0;
                if (t < best) {
                    best = t;
                    best_cpu = cpu_s() - c0;
                }
                n = d.images.size(0);
            }
            std::printf("ImageFolder CIFAR-10 JPEG test split (%lld images), %d thread(s): %.3f s (cpu %.3f s), "
                        "%.0f images/s\n",
                        static_cast<long long>(n), threads, best, best_cpu, n / best);
        }
    } else {
        std::printf("CIFAR-10 JPEG not found at %s: skipping (b)\n", cifar.c_str());
    }
    return 0;
} catch (const std::exception & e) {
    std::fprintf(stderr, "bench_data: %s\n", e.what());
    return 1;
}
