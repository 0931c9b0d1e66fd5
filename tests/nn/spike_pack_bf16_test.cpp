// The AMX convolution's input packing (spike_pack_bf16.h): spikes as their indicator, average-pooled spikes as
// their integer levels, contiguous and channels-last inputs, the AVX-512 rows against the plain loops and against
// a reference written with ATen, and strips of images side by side.
#include "snnkit/core/error.h"
#include "snnkit/nn/spike_pack_bf16.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

using namespace snnkit;

namespace {

// The packed layout [N, H, W, copies*C] of per-channel values v [N, C, H, W].
at::Tensor laid_out(const at::Tensor & v, int copies) {
    const at::Tensor p = v.permute({0, 2, 3, 1});
    return at::cat(std::vector<at::Tensor>(static_cast<size_t>(copies), p), 3);
}

} // namespace

// Spikes of amplitude a (scalar, or one per channel) averaged over 2 x 2 hold a * q / 4; the packing writes q,
// exactly, for every layout and both loops (odd sizes: partial 16-lanes).
TEST(spike_pack_bf16, levels_of_pooled_spikes_are_their_integers) {
    at::manual_seed(21);
    const int64_t C = 19;
    const at::Tensor s = at::bernoulli(at::full({3, C, 10, 14}, 0.4));
    for (int amp_kind : {0, 1, 2}) {
        at::Tensor amp = amp_kind == 0 ? at::ones({}) : amp_kind == 1 ? at::scalar_tensor(0.7314) : at::rand({C}) + 0.3;
        const at::Tensor spikes = s * (amp.dim() == 0 ? amp : amp.view({1, C, 1, 1}));
        const at::Tensor x = at::avg_pool2d(spikes, {2, 2}, {2, 2});
        const at::Tensor q = at::avg_pool2d(s, {2, 2}, {2, 2}) * 4; // the count of spikes per window, 0..4
        ASSERT_TRUE(at::equal(q, q.round()));
        spike_pack_layout o;
        o.levels = 4;
        o.inv_quantum = 4.0 / amp;
        for (int copies : {1, 3}) {
            o.copies = copies;
            const at::Tensor want = laid_out(q, copies);
            for (bool portable : {false, true}) {
                for (const at::Tensor & in : {x, x.contiguous(at::MemoryFormat::ChannelsLast)}) {
                    const at::Tensor got = spike_pack_bf16(in, o, portable).to(at::kFloat);
                    EXPECT_TRUE(at::equal(got, want)) << "amplitude kind " << amp_kind << ", copies " << copies
                                                       << (portable ? " portable" : " avx512")
                                                       << (in.is_contiguous() ? " nchw" : " nhwc");
                }
            }
        }
    }
}

// Spikes as their indicator from both layouts, with widths and channel counts that leave partial 16 x 16 tiles
// (the contiguous input's bit transposition), spike values other than 1, and a NaN, which counts as a spike as
// in the comparison x != 0.
TEST(spike_pack_bf16, spikes_from_either_layout_are_their_indicator) {
    at::manual_seed(23);
    for (const std::vector<int64_t> & shape : {std::vector<int64_t>{3, 37, 5, 35}, {2, 16, 3, 16}, {1, 5, 2, 7}}) {
        at::Tensor x = at::bernoulli(at::full(shape, 0.3)) * 0.625;
        x.view({-1})[7] = std::numeric_limits<float>::quiet_NaN();
        const at::Tensor ind = x.ne(0).to(at::kFloat);
        for (int copies : {1, 2, 3}) {
            spike_pack_layout o;
            o.copies = copies;
            const at::Tensor want = laid_out(ind, copies);
            for (bool portable : {false, true}) {
                for (const at::Tensor & in : {x, x.contiguous(at::MemoryFormat::ChannelsLast)}) {
                    const at::Tensor got = spike_pack_bf16(in, o, portable).to(at::kFloat);
                    EXPECT_TRUE(at::equal(got, want)) << "shape " << x.sizes() << ", copies " << copies
                                                       << (portable ? " portable" : " avx512")
                                                       << (in.is_contiguous() ? " nchw" : " nhwc");
                }
            }
        }
    }
}

// Strips: image n at row n / k, from position (n % k) * (W + gap); zeros in the gaps and the empty places.
TEST(spike_pack_bf16, strips_lay_images_side_by_side_with_zero_gaps) {
    at::manual_seed(22);
    const at::Tensor x = at::bernoulli(at::full({5, 17, 3, 4}, 0.5)); // 5 images, strips of 2: one empty place
    spike_pack_layout o;
    o.copies = 2;
    o.strip = 2;
    o.gap = 1;
    for (bool portable : {false, true}) {
        const at::Tensor got = spike_pack_bf16(x, o, portable).to(at::kFloat); // [3, 3, 10, 34]
        ASSERT_EQ(got.sizes(), (std::vector<int64_t>{3, 3, 10, 34}));
        at::Tensor want = at::zeros({3, 3, 10, 34});
        const at::Tensor each = laid_out(x, 2); // [5, 3, 4, 34]
        for (int64_t n = 0; n < 5; ++n) {
            want.select(0, n / 2).narrow(1, (n % 2) * 5, 4).copy_(each.select(0, n));
        }
        EXPECT_TRUE(at::equal(got, want)) << (portable ? "portable" : "avx512");
    }
}

TEST(spike_pack_bf16, bad_layouts_are_refused) {
    const at::Tensor x = at::zeros({2, 4, 3, 3});
    spike_pack_layout o;
    o.levels = 4; // without inv_quantum
    EXPECT_THROW(spike_pack_bf16(x, o), snnkit::error);
    o.inv_quantum = at::ones({3}); // 3 values for 4 channels
    EXPECT_THROW(spike_pack_bf16(x, o), snnkit::error);
    o.inv_quantum = at::ones({});
    o.levels = 300; // more than bfloat16 holds exactly
    EXPECT_THROW(spike_pack_bf16(x, o), snnkit::error);
    o.levels = 1;
    o.copies = 4;
    EXPECT_THROW(spike_pack_bf16(x, o), snnkit::error);
    o.copies = 1;
    EXPECT_THROW(spike_pack_bf16(x.to(at::kDouble), o), snnkit::error);
}
