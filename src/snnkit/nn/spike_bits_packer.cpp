// snnkit/nn/spike_bits_packer.cpp
#include "snnkit/nn/spike_bits_packer.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/spike_gather_pool.h"

#include <ATen/Parallel.h>

#include <string>

namespace snnkit {

bool spike_bits_packer_fits(int64_t H, int64_t W, std::array<int64_t, 2> window) {
    return spike_gather_pool_fits(window, window, {0, 0}) && H >= 1 && W >= 1 && H % window[0] == 0 &&
           W % window[1] == 0;
}

spike_bits_packer::spike_bits_packer(const spike_bits_layout & layout, bool portable)
    : l_(layout), portable_(portable) {
    const char * what = "spike_bits_packer";
    if (l_.T < 1 || l_.N < 1 || l_.C < 1 || l_.pad_left < 0 || l_.pad_right < 0) {
        fail(what, "T, N and C must be positive and the padding >= 0");
    }
    if (!spike_bits_packer_fits(l_.H, l_.W, l_.window)) {
        fail(what, "the window " + std::to_string(l_.window[0]) + " x " + std::to_string(l_.window[1]) +
                       " does not tile the " + std::to_string(l_.H) + " x " + std::to_string(l_.W) + " map");
    }
    const int64_t group = l_.window[0] * l_.window[1];
    rows_ = l_.H / l_.window[0];
    Wp_ = l_.pad_left + l_.W / l_.window[1] + l_.pad_right;
    Cb_ = (l_.C * group + 7) / 8;
    const int64_t bytes = l_.T * l_.N * rows_ * Wp_ * Cb_;
    buf_ = at::zeros({bytes + 8}, at::TensorOptions().dtype(at::kByte)); // 8 spare bytes: spike_bits' promise
    base_ = buf_.data_ptr<uint8_t>();
}

void spike_bits_packer::take(int64_t t, int64_t j0, const float * row, int64_t n) {
    const int64_t unit = align(); // one packed row: kh input rows
    const bool pooled = l_.window[0] * l_.window[1] > 1;
    int64_t ones = 0;
    for (int64_t k = 0; k < n / unit; ++k) {
        const int64_t r = (t * l_.N * rows_) + j0 / unit + k; // the packed row: (t, image, row)
        uint8_t * dst = base_ + (r * Wp_ + l_.pad_left) * Cb_;
        const float * x = row + k * unit;
        ones += pooled ? spike_gather_pool_pack_row(x, l_.W, l_.C, l_.window, dst, portable_)
                       : spike_gather_pack_row(x, l_.W, l_.C, dst, portable_);
    }
    ones_.fetch_add(ones, std::memory_order_relaxed);
}

spike_bits spike_bits_packer::finish() {
    spike_bits r;
    r.bits = buf_.narrow(0, 0, buf_.numel() - 8).view({l_.T * l_.N, rows_, Wp_, Cb_});
    r.C = l_.C;
    r.pad_left = l_.pad_left;
    r.group = l_.window[0] * l_.window[1];
    r.ones = ones_.load();
    buf_ = at::Tensor();
    base_ = nullptr;
    return r;
}

at::Tensor spike_bits_unpack(const spike_bits & x, int64_t H, int64_t W, std::array<int64_t, 2> window,
                             const at::Tensor & amp) {
    const char * what = "spike_bits_unpack";
    const at::Tensor & b = x.bits;
    const int64_t kh = window[0], kw = window[1], g = kh * kw, C = x.C;
    if (b.dim() != 4 || b.scalar_type() != at::kByte || kh < 1 || kw < 1 || x.group != g || H % kh != 0 ||
        W % kw != 0 || b.size(1) != H / kh || b.size(3) != (C * g + 7) / 8 || b.size(2) < x.pad_left + W / kw) {
        fail(what, "the packed spikes do not match the map, the window or C");
    }
    const int64_t N = b.size(0), Wp = b.size(2), Cb = b.size(3);
    at::Tensor a = at::ones({C}, at::kFloat);
    if (amp.defined()) {
        if (amp.numel() != 1 && amp.numel() != C) {
            fail(what, "amp has " + std::to_string(amp.numel()) + " values for " + std::to_string(C) + " channels");
        }
        a = amp.detach().to(at::kFloat).reshape({-1}).expand({C}).contiguous();
    }
    at::Tensor out = at::empty({N, H, W, C}, at::kFloat);
    const uint8_t * bp = b.data_ptr<uint8_t>();
    const float * ap = a.data_ptr<float>();
    float * op = out.data_ptr<float>();
    at::parallel_for(0, N * H, 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) { // input row (image, h)
            const int64_t h = r % H, packed_row = (r / H) * (H / kh) + h / kh;
            for (int64_t w = 0; w < W; ++w) {
                const uint8_t * s = bp + (packed_row * Wp + x.pad_left + w / kw) * Cb;
                const int64_t pos = (h % kh) * kw + w % kw; // the window position
                float * d = op + (r * W + w) * C;
                for (int64_t c = 0; c < C; ++c) {
                    const int64_t bit = c * g + pos;
                    d[c] = (s[bit >> 3] >> (bit & 7)) & 1u ? ap[c] : 0.0f;
                }
            }
        }
    });
    return out.permute({0, 3, 1, 2});
}

} // namespace snnkit
