// snnkit/data/cifar_bin.cpp: CIFAR-10 and CIFAR-100 in their official binary formats.
//
// CIFAR-10 ("cifar-10-batches-bin"): data_batch_{1..5}.bin (train), test_batch.bin (test); each
// record is 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, row-major 32x32, i.e. CHW).
// CIFAR-100 ("cifar-100-binary"): train.bin, test.bin; records are coarse label, fine label, 3072
// pixels; we return the fine labels (100 classes). Files may also be gzipped (detected by magic).
#include "snnkit/core/error.h"
#include "snnkit/data/dataset.h"
#include "snnkit/data/file_util.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <map>

namespace snnkit {

namespace {

constexpr int64_t cifar_pixels = 3 * 32 * 32;

const std::vector<std::string> cifar10_names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};

const std::vector<std::string> cifar100_fine_names = {
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm"};

// Non-empty lines of a text file (class name lists such as batches.meta.txt); empty if absent.
std::vector<std::string> read_lines(const std::string & path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

struct cifar_format {
    const char * name;            // "CIFAR-10"
    const char * subdir;          // folder name inside the parent
    int label_bytes;              // 1 (CIFAR-10) or 2 (coarse, fine)
    int label_offset;             // which label byte we keep
    int64_t num_classes;          // 10 or 100
    const char * names_file;      // class names text file, if present
    const std::vector<std::string> * default_names;
};

// `dir` may be the batches folder itself or its parent.
std::string resolve_dir(const std::string & dir, const cifar_format & f, const std::string & probe) {
    detail::require_dir(dir, std::string(f.name) + " directory");
    if (detail::is_file(dir + "/" + probe)) return dir;
    std::string sub = dir + "/" + f.subdir;
    if (detail::is_dir(sub)) return sub;
    fail(dir, std::string("no ") + f.name + " binary files (" + probe + ") found here or in " + f.subdir + "/");
}

dataset load_cifar(const std::string & dir_in, const cifar_format & f, const std::vector<std::string> & files,
                   const std::string & probe) {
    const std::string dir = resolve_dir(dir_in, f, probe);
    const int64_t record = f.label_bytes + cifar_pixels;

    // Read every file (raw or gzipped) and check it holds a whole number of records.
    std::vector<std::vector<uint8_t>> blobs;
    std::vector<std::string> paths;
    std::vector<int64_t> first;  // index of each file's first record
    int64_t total = 0;
    for (const auto & name : files) {
        std::string p = dir + "/" + name;
        if (!detail::is_file(p)) fail(p, std::string(f.name) + " batch file not found");
        blobs.push_back(detail::read_maybe_gzip(p, uint64_t(1) << 32));
        const auto n = static_cast<int64_t>(blobs.back().size());
        if (n == 0) fail(p, "empty file");
        if (n % record != 0)
            fail(p, "truncated: " + std::to_string(n) + " bytes is not a whole number of " +
                        std::to_string(record) + "-byte records");
        paths.push_back(p);
        first.push_back(total);
        total += n / record;
    }
    // The official batch files of a split hold the same number of records each: a file cut at a record
    // boundary is only visible against its siblings.
    std::vector<int64_t> counts(paths.size());
    std::map<int64_t, int> votes;
    for (size_t i = 0; i < paths.size(); ++i) {
        counts[i] = (i + 1 < paths.size() ? first[i + 1] : total) - first[i];
        votes[counts[i]]++;
    }
    const int64_t usual = std::max_element(votes.begin(), votes.end(), [](const auto & a, const auto & b) {
                              return a.second < b.second;
                          })->first;
    for (size_t i = 0; i < paths.size(); ++i) {
        if (counts[i] != usual)
            fail(paths[i], "holds " + std::to_string(counts[i]) + " records, the other batch files " +
                               std::to_string(usual) + " (truncated?)");
    }

    dataset d;
    d.num_classes = f.num_classes;
    d.images = at::empty({total, 3, 32, 32}, at::kByte);
    d.labels = at::empty({total}, at::kLong);
    uint8_t * img = d.images.data_ptr<uint8_t>();
    int64_t * lab = d.labels.data_ptr<int64_t>();

    // Records are already CHW: one memcpy each, in parallel; remember the first bad label.
    for (size_t fi = 0; fi < blobs.size(); ++fi) {
        const uint8_t * src = blobs[fi].data();
        const int64_t n = static_cast<int64_t>(blobs[fi].size()) / record;
        std::atomic<int64_t> bad{n};
        at::parallel_for(0, n, 1024, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
                const uint8_t * rec = src + i * record;
                int64_t label = rec[f.label_offset];
                if (label >= f.num_classes) {
                    int64_t cur = bad.load();
                    while (i < cur && !bad.compare_exchange_weak(cur, i)) {}
                }
                lab[first[fi] + i] = label;
                std::memcpy(img + (first[fi] + i) * cifar_pixels, rec + f.label_bytes, cifar_pixels);
            }
        });
        if (bad.load() < n) {
            int64_t i = bad.load();
            fail(paths[fi], "label " + std::to_string(int(src[i * record + f.label_offset])) + " out of range [0, " +
                                std::to_string(f.num_classes) + ") in record " + std::to_string(i));
        }
        std::vector<uint8_t>().swap(blobs[fi]);  // free as we go
    }

    auto names = read_lines(dir + "/" + f.names_file);
    d.class_names = static_cast<int64_t>(names.size()) == f.num_classes ? names : *f.default_names;
    return d;
}

} // namespace

dataset load_cifar10_bin(const std::string & dir, split s) {
    static const cifar_format f{"CIFAR-10", "cifar-10-batches-bin", 1, 0, 10, "batches.meta.txt", &cifar10_names};
    std::vector<std::string> files;
    if (s == split::train)
        for (int i = 1; i <= 5; ++i) files.push_back("data_batch_" + std::to_string(i) + ".bin");
    else
        files.push_back("test_batch.bin");
    return load_cifar(dir, f, files, files.front());
}

dataset load_cifar100_bin(const std::string & dir, split s) {
    static const cifar_format f{"CIFAR-100", "cifar-100-binary", 2, 1, 100, "fine_label_names.txt",
                                &cifar100_fine_names};
    std::vector<std::string> files = {s == split::train ? "train.bin" : "test.bin"};
    return load_cifar(dir, f, files, files.front());
}

} // namespace snnkit
