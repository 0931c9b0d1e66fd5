// snnkit/data/idx.cpp: IDX files (MNIST, Fashion-MNIST, ...), raw or gzipped.
//
// IDX layout (big-endian): magic = 0x00 0x00 <type> <ndims>, then ndims uint32 sizes, then the data.
// We read unsigned-byte (type 0x08) image files with 3 dims [N, H, W] and label files with 1 dim [N].
// Header sizes are checked against the file size (or, for gzip, the deflate bound) before allocating.
#include "snnkit/core/error.h"
#include "snnkit/data/dataset.h"
#include "snnkit/data/file_util.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace snnkit {

namespace {

constexpr uint8_t idx_ubyte = 0x08;

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08X", v);
    return buf;
}

uint32_t be32(const uint8_t * p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

const char * idx_type_name(uint8_t t) {
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
    }
}

// Reads an IDX header from r and checks it is unsigned byte with `ndims` dimensions.
std::vector<uint32_t> read_idx_header(detail::byte_reader & r, uint8_t ndims) {
    const std::string & path = r.path();
    uint8_t magic[4];
    uint64_t got = r.read(magic, 4);
    if (got < 4) fail(path, "truncated: " + std::to_string(got) + " bytes, too short for an IDX header");
    const uint32_t expected = (uint32_t(idx_ubyte) << 8) | ndims;
    if (magic[0] != 0 || magic[1] != 0 || magic[3] != ndims)
        fail(path, "wrong magic number " + hex32(be32(magic)) + " (expected " + hex32(expected) + ")");
    if (magic[2] != idx_ubyte)
        fail(path, std::string("unsupported IDX data type ") + hex32(be32(magic)) + " (" + idx_type_name(magic[2]) +
                       "; only unsigned byte " + hex32(expected) + " is supported)");
    uint8_t dims_raw[4 * 4];
    r.read_exact(dims_raw, 4u * ndims, "IDX header");
    std::vector<uint32_t> dims(ndims);
    for (int i = 0; i < ndims; ++i) dims[i] = be32(dims_raw + 4 * i);
    return dims;
}

// Checks that `bytes` of payload can be present before allocating them.
void check_payload(detail::byte_reader & r, uint64_t bytes, const std::string & shape) {
    uint64_t bound = r.max_remaining();
    if (bytes > bound) {
        if (r.gzipped())
            fail(r.path(), "absurd header: " + shape + " needs " + std::to_string(bytes) +
                               " bytes, more than a " + std::to_string(detail::file_size(r.path())) +
                               "-byte gzip file can hold");
        fail(r.path(), "truncated: header says " + shape + " (" + std::to_string(bytes) + " bytes of data), file holds only " +
                           std::to_string(bound));
    }
}

at::Tensor read_idx_images(const std::string & path) {
    detail::byte_reader r(path);
    auto dims = read_idx_header(r, 3);
    const std::string shape = std::to_string(dims[0]) + " images of " + std::to_string(dims[1]) + "x" + std::to_string(dims[2]);
    if (dims[0] == 0) fail(path, "header says 0 images");
    if (dims[1] == 0 || dims[2] == 0) fail(path, "header says zero-sized images (" + shape + ")");
    uint64_t bytes = detail::checked_mul(detail::checked_mul(dims[0], dims[1], path), dims[2], path);
    check_payload(r, bytes, shape);
    at::Tensor t = at::empty({int64_t(dims[0]), 1, int64_t(dims[1]), int64_t(dims[2])}, at::kByte);
    r.read_exact(t.data_ptr<uint8_t>(), bytes, ("image data (" + shape + ")").c_str());
    r.expect_end("image data");
    return t;
}

at::Tensor read_idx_labels(const std::string & path) {
    detail::byte_reader r(path);
    auto dims = read_idx_header(r, 1);
    const std::string shape = std::to_string(dims[0]) + " labels";
    if (dims[0] == 0) fail(path, "header says 0 labels");
    check_payload(r, dims[0], shape);
    std::vector<uint8_t> raw(dims[0]);
    r.read_exact(raw.data(), dims[0], ("label data (" + shape + ")").c_str());
    r.expect_end("label data");
    at::Tensor t = at::empty({int64_t(dims[0])}, at::kLong);
    int64_t * dst = t.data_ptr<int64_t>();
    for (size_t i = 0; i < raw.size(); ++i) dst[i] = raw[i];
    return t;
}

// First existing file among `names` inside dir, or "" if none.
std::string find_first(const std::string & dir, const std::vector<std::string> & names) {
    for (const auto & n : names) {
        std::string p = dir + "/" + n;
        if (detail::is_file(p)) return p;
    }
    return "";
}

std::string find_mnist_file(const std::string & dir, const std::string & prefix, const std::string & kind) {
    // Official names, gzipped or not, plus the common "images.idx3-ubyte" variant.
    std::vector<std::string> names = {prefix + "-" + kind + "-ubyte", prefix + "-" + kind + "-ubyte.gz"};
    std::string dotted = kind;
    dotted[dotted.find('-')] = '.';
    names.push_back(prefix + "-" + dotted + "-ubyte");
    names.push_back(prefix + "-" + dotted + "-ubyte.gz");
    std::string p = find_first(dir, names);
    if (p.empty()) fail(dir, "no " + prefix + "-" + kind + "-ubyte[.gz] found");
    return p;
}

} // namespace

dataset load_idx(const std::string & images_path, const std::string & labels_path) {
    dataset d;
    d.images = read_idx_images(images_path);
    d.labels = read_idx_labels(labels_path);
    const int64_t n_img = d.images.size(0), n_lab = d.labels.size(0);
    if (n_img != n_lab)
        fail(labels_path, "image/label count mismatch: " + std::to_string(n_lab) + " labels but " +
                              std::to_string(n_img) + " images in " + images_path);
    d.num_classes = d.labels.max().item<int64_t>() + 1;
    return d;
}

dataset load_mnist_dir(const std::string & dir, split s) {
    detail::require_dir(dir, "MNIST directory");
    const std::string prefix = s == split::train ? "train" : "t10k";
    std::string images = find_mnist_file(dir, prefix, "images-idx3");
    std::string labels = find_mnist_file(dir, prefix, "labels-idx1");
    dataset d = load_idx(images, labels);
    // MNIST-style sets have 10 classes; keep more if the labels say so (e.g. EMNIST in this layout).
    d.num_classes = std::max<int64_t>(d.num_classes, 10);
    return d;
}

} // namespace snnkit
