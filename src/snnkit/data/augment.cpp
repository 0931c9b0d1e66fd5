// snnkit/data/augment.cpp: batch preparation: gather, /255, random crop with zero padding, horizontal
// flip, normalisation, in one pass per sample through a 256-entry lookup table per channel.
//
// Each sample's draw depends only on (seed, dataset index) through splitmix64, so a batch is the same
// whatever the thread count or the sample's position in the batch.
#include "snnkit/data/augment.h"

#include "snnkit/core/error.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace snnkit {

namespace {

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Uniform integer in [0, n) from 64 random bits (multiply-shift on the top 32 bits).
int uniform_below(uint64_t bits, uint32_t n) {
    return static_cast<int>(((bits >> 32) * uint64_t(n)) >> 32);
}

} // namespace

augment_draw draw_augment(uint64_t seed, int64_t index, const augment_options & opt) {
    augment_draw d;
    const int p = std::max(opt.pad_crop, 0);
    d.dy = d.dx = p;
    const uint64_t h = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(index)));
    if (p > 0) {
        d.dy = uniform_below(splitmix64(h + 1), uint32_t(2 * p + 1));
        d.dx = uniform_below(splitmix64(h + 2), uint32_t(2 * p + 1));
    }
    if (opt.hflip) d.flip = (splitmix64(h + 3) >> 63) != 0;
    return d;
}

at::Tensor make_batch(const at::Tensor & images, const at::Tensor & idx_in, const augment_options & opt,
                      uint64_t seed) {
    static const std::string where = "make_batch";
    if (!images.defined() || images.dim() != 4 || images.scalar_type() != at::kByte || !images.device().is_cpu())
        fail(where, "images must be a CPU uint8 tensor [N, C, H, W]");
    if (!idx_in.defined() || idx_in.dim() != 1 || !at::isIntegralType(idx_in.scalar_type(), false) ||
        !idx_in.device().is_cpu())
        fail(where, "idx must be a 1-D CPU integer tensor");
    const int64_t n = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
    const at::Tensor idx = idx_in.to(at::kLong).contiguous();
    const int64_t B = idx.size(0);
    const int64_t * ix = idx.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b)
        if (ix[b] < 0 || ix[b] >= n)
            fail(where, "index " + std::to_string(ix[b]) + " out of range [0, " + std::to_string(n) + ")");
    if (opt.pad_crop < 0) fail(where, "pad_crop must be >= 0");
    auto check_stat = [&](const std::vector<float> & v, const char * name) {
        if (!v.empty() && v.size() != 1 && static_cast<int64_t>(v.size()) != C)
            fail(where, std::string(name) + " has " + std::to_string(v.size()) + " values for " + std::to_string(C) +
                            " channels");
    };
    check_stat(opt.mean, "mean");
    check_stat(opt.std, "std");
    for (float s : opt.std)
        if (!(s != 0.0f) || !std::isfinite(s)) fail(where, "std values must be finite and non-zero");

    // Per-channel lookup table: lut[c][v] = (v / 255 - mean[c]) / std[c].
    std::vector<std::array<float, 256>> lut(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
        const float m = opt.mean.empty() ? 0.0f : opt.mean[opt.mean.size() == 1 ? 0 : c];
        const float s = opt.std.empty() ? 1.0f : opt.std[opt.std.size() == 1 ? 0 : c];
        for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) / 255.0f - m) / s;
    }

    // Non-contiguous images: gather the batch first (a batch-sized copy, not a dataset-sized one).
    at::Tensor src = images;
    bool gathered = false;
    if (!images.is_contiguous()) {
        src = images.index_select(0, idx).contiguous();
        gathered = true;
    }
    const uint8_t * base = src.data_ptr<uint8_t>();
    const int64_t plane = H * W;
    const int p = opt.pad_crop;

    at::Tensor out = at::empty({B, C, H, W}, at::kFloat);
    float * dst_all = out.data_ptr<float>();
    // At least ~256K output values per task: a fork-join costs more than preparing a whole MNIST or
    // CIFAR batch of 128 (well under a millisecond), and stalls badly on a busy machine; large images
    // (or large batches) still spread over the intra-op threads.
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(1, C * plane));
    at::parallel_for(0, B, grain, [&](int64_t b0, int64_t b1) {
        std::vector<int64_t> cols(static_cast<size_t>(W));  // source column per output column, -1 = padding
        for (int64_t b = b0; b < b1; ++b) {
            const augment_draw d = draw_augment(seed, ix[b], opt);
            const uint8_t * img = base + (gathered ? b : ix[b]) * C * plane;
            float * dst = dst_all + b * C * plane;
            if (d.dy == p && d.dx == p && !d.flip) {  // identity geometry: straight table lookup
                for (int64_t c = 0; c < C; ++c) {
                    const float * t = lut[c].data();
                    const uint8_t * s = img + c * plane;
                    float * o = dst + c * plane;
                    for (int64_t i = 0; i < plane; ++i) o[i] = t[s[i]];
                }
                continue;
            }
            for (int64_t x = 0; x < W; ++x) {
                const int64_t xs = d.flip ? W - 1 - x : x;
                const int64_t sx = xs + d.dx - p;
                cols[x] = (sx >= 0 && sx < W) ? sx : -1;
            }
            for (int64_t c = 0; c < C; ++c) {
                const float * t = lut[c].data();
                const float zero = t[0];
                for (int64_t y = 0; y < H; ++y) {
                    float * o = dst + c * plane + y * W;
                    const int64_t sy = y + d.dy - p;
                    if (sy < 0 || sy >= H) {
                        std::fill(o, o + W, zero);
                        continue;
                    }
                    const uint8_t * row = img + c * plane + sy * W;
                    for (int64_t x = 0; x < W; ++x) o[x] = cols[x] >= 0 ? t[row[cols[x]]] : zero;
                }
            }
        }
    });
    return out;
}

} // namespace snnkit
