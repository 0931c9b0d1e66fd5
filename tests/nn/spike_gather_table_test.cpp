// The table convolution of bit-packed spikes (spike_gather_table.h): its table against the closed form, the
// convolution against a double-precision one, the AVX-512 kernel against the plain loops, and its refusals.
#include "snnkit/nn/spike_gather_table.h"

#include "snnkit/core/error.h"
#include "spike_conv_test_util.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

using namespace snnkit;
using snnkit_test::amplitude_of;
using snnkit_test::geom;
using snnkit_test::with_amplitude;

namespace {

at::Tensor spikes(at::IntArrayRef shape, double p) { return at::bernoulli(at::full(shape, p)); }

at::Tensor table_conv(const at::Tensor & x, const at::Tensor & w, const at::Tensor & amp, const at::Tensor & b,
                      const geom & g, bool portable = false) {
    const spike_bits bits = spike_gather_pack(x, g.p, spike_gather_pad_right(g.w, g.kw, g.s, g.p));
    return spike_gather_conv2d_table(bits, g.h, g.w, spike_gather_table(spike_gather_rows(w, amp)), g.o, b,
                                     {g.kh, g.kw}, {g.s, g.s}, {g.p, g.p}, portable);
}

// ResNet-20's narrow layers and shapes that leave bytes and vectors partly filled (C 3, 12; O 5, 17, 40).
std::vector<geom> geometries() {
    return {geom{16, 16, 10, 10, 3, 3, 1, 1, 1}, geom{16, 32, 9, 9, 3, 3, 2, 1, 1}, geom{16, 32, 8, 8, 1, 1, 2, 0, 1},
            geom{3, 17, 7, 6, 3, 3, 1, 1, 1},    geom{12, 5, 6, 9, 5, 3, 1, 2, 1},  geom{32, 40, 5, 5, 3, 3, 1, 0, 1},
            geom{32, 64, 4, 4, 3, 3, 1, 1, 1}};
}

} // namespace

TEST(spike_gather_table, entries_are_the_sums_of_the_rows_of_their_set_bits) {
    at::manual_seed(1);
    const at::Tensor rows = spike_gather_rows(at::randn({20, 12, 1, 2}), {}); // [1, 2 * 16, 32]
    const at::Tensor t = spike_gather_table(rows);                            // [1, 256, 4, 32]
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{1, 256, 4, 32}));
    for (int64_t b = 0; b < 4; ++b) {
        for (int64_t v = 0; v < 256; ++v) {
            at::Tensor want = at::zeros({32});
            for (int64_t bit = 0; bit < 8; ++bit) { // from the lowest bit up, as the table adds them
                if ((v >> bit) & 1) {
                    want = want + rows[0][8 * b + bit];
                }
            }
            ASSERT_TRUE(at::equal(t[0][v][b], want)) << "byte " << b << " value " << v;
        }
    }
    EXPECT_THROW(spike_gather_table(at::randn({3, 7, 16})), snnkit::error);
    EXPECT_EQ(spike_gather_table_bytes(16, 16, 3, 3), int64_t{9} * 2 * 256 * 16 * 4);
    EXPECT_EQ(spike_gather_table_bytes(3, 17, 1, 1), int64_t{1} * 256 * 32 * 4);
}

TEST(spike_gather_table, conv2d_equals_the_double_convolution_up_to_float_sums) {
    at::manual_seed(2);
    for (const geom & g : geometries()) {
        for (int amp_kind : {0, 1, 2}) {
            for (double rate : {0.0, 0.05, 0.5, 1.0}) {
                for (bool with_bias : {true, false}) {
                    const at::Tensor amp = amplitude_of(amp_kind, g.c);
                    const at::Tensor x =
                        with_amplitude(spikes({3, g.c, g.h, g.w}, rate), amp).contiguous(at::MemoryFormat::ChannelsLast);
                    const at::Tensor w = at::randn({g.o, g.c, g.kh, g.kw});
                    const at::Tensor b = with_bias ? at::randn({g.o}) : at::Tensor();
                    SCOPED_TRACE("c " + std::to_string(g.c) + " o " + std::to_string(g.o) + " k " + std::to_string(g.kh) +
                                 "x" + std::to_string(g.kw) + " s " + std::to_string(g.s) + " amp " +
                                 std::to_string(amp_kind) + " rate " + std::to_string(rate));
                    const at::Tensor got = table_conv(x, w, amp, b, g);
                    EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
                    snnkit_test::expect_float_sum_error(got, x, w, b, {g.s, g.s}, {g.p, g.p}, {1, 1});
                }
            }
        }
    }
}

TEST(spike_gather_table, vector_kernel_equals_the_plain_loops_bit_for_bit) {
    at::manual_seed(3);
    for (const geom & g : geometries()) {
        const at::Tensor amp = amplitude_of(2, g.c);
        const at::Tensor x = with_amplitude(spikes({2, g.c, g.h, g.w}, 0.3), amp);
        const at::Tensor w = at::randn({g.o, g.c, g.kh, g.kw}), b = at::randn({g.o});
        const at::Tensor v = table_conv(x, w, amp, b, g, false), p = table_conv(x, w, amp, b, g, true);
        EXPECT_TRUE(at::equal(v, p)) << "c " << g.c << " o " << g.o << ": max " << (v - p).abs().max().item<double>();
    }
}

TEST(spike_gather_table, refuses_tables_and_packings_that_do_not_fit_the_convolution) {
    at::manual_seed(4);
    const at::Tensor x = spikes({1, 8, 6, 6}, 0.5);
    const at::Tensor table = spike_gather_table(spike_gather_rows(at::randn({4, 8, 3, 3}), {}));
    const spike_bits ok = spike_gather_pack(x, 1, 1);
    EXPECT_NO_THROW(spike_gather_conv2d_table(ok, 6, 6, table, 4, {}, {3, 3}, {1, 1}, {1, 1}));
    EXPECT_THROW(spike_gather_conv2d_table(spike_gather_pack(x, 0, 0), 6, 6, table, 4, {}, {3, 3}, {1, 1}, {1, 1}),
                 snnkit::error); // no padding packed
    EXPECT_THROW(spike_gather_conv2d_table(ok, 6, 6, table, 17, {}, {3, 3}, {1, 1}, {1, 1}), snnkit::error);
    EXPECT_THROW(spike_gather_conv2d_table(ok, 6, 6, table, 4, {}, {1, 1}, {1, 1}, {1, 1}), snnkit::error);
    EXPECT_THROW(spike_gather_conv2d_table(ok, 6, 6, table, 4, at::ones({3}), {3, 3}, {1, 1}, {1, 1}), snnkit::error);
    EXPECT_THROW(spike_gather_conv2d_table(ok, 5, 6, table, 4, {}, {3, 3}, {1, 1}, {1, 1}), snnkit::error);
}
