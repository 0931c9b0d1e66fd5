// Event-driven conv / linear (spike_sparse.h) against ATen's dense kernels, and the SNN executor with sparse layers
// against the dense executor.
#include "snnkit/convert/convert.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/spike_sparse.h"
#include "snnkit/nn/zoo.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

using namespace snnkit;

namespace {

// Sparse input: each value nonzero with probability p, then 1 (spikes) or a random value (e.g. pooled spikes).
at::Tensor sparse_input(at::IntArrayRef shape, double p, bool binary) {
    const at::Tensor mask = at::bernoulli(at::full(shape, p));
    return binary ? mask : mask * at::rand(shape);
}

void expect_close(const at::Tensor & got, const at::Tensor & want) {
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-5 + 1e-5 * want.abs().max().item<double>());
}

} // namespace

TEST(spike_sparse, conv2d_equals_aten_for_kernels_strides_paddings_and_channel_counts) {
    at::manual_seed(3);
    struct geom {
        int64_t c, o, h, w, kh, kw, s, p;
    };
    // odd output channels (17, 10) exercise the masked tail of a row, C*H*W not a multiple of 16 the scan's
    for (const geom & g : {geom{16, 32, 12, 12, 3, 3, 1, 1}, geom{5, 17, 9, 7, 3, 3, 2, 1}, geom{8, 10, 10, 10, 1, 1, 2, 0},
                           geom{3, 20, 11, 13, 5, 3, 1, 2}, geom{4, 48, 6, 6, 3, 3, 1, 0}}) {
        for (bool binary : {true, false}) {
            for (bool with_bias : {true, false}) {
                const at::Tensor x = sparse_input({3, g.c, g.h, g.w}, 0.1, binary);
                const at::Tensor w = at::randn({g.o, g.c, g.kh, g.kw});
                const at::Tensor b = with_bias ? at::randn({g.o}) : at::Tensor();
                const at::Tensor want = at::conv2d(x, w, b, {g.s, g.s}, {g.p, g.p});
                const at::Tensor got = sparse_conv2d(x, sparse_weight_rows(w), b, {g.kh, g.kw}, {g.s, g.s}, {g.p, g.p});
                SCOPED_TRACE("c " + std::to_string(g.c) + " o " + std::to_string(g.o) + " k " + std::to_string(g.kh) +
                             "x" + std::to_string(g.kw) + " s " + std::to_string(g.s));
                expect_close(got, want);
            }
        }
    }
}

TEST(spike_sparse, linear_equals_aten_and_all_zero_input_gives_the_bias) {
    at::manual_seed(4);
    for (int64_t o : {10, 16, 33}) {
        const at::Tensor x = sparse_input({7, 101}, 0.05, false);
        const at::Tensor w = at::randn({o, 101}), b = at::randn({o});
        expect_close(sparse_linear(x, sparse_weight_rows(w), b), at::linear(x, w, b));
        expect_close(sparse_linear(at::zeros({2, 101}), sparse_weight_rows(w), b), b.unsqueeze(0).expand({2, o}));
    }
}

TEST(spike_sparse, nonzero_fraction_counts_the_nonzero_values) {
    at::manual_seed(5);
    const at::Tensor x = sparse_input({3, 1000, 7}, 0.03, false); // 21000 values: blocks of 16 and a tail
    EXPECT_DOUBLE_EQ(nonzero_fraction(x), static_cast<double>(x.ne(0).sum().item<int64_t>()) / 21000.0);
    EXPECT_DOUBLE_EQ(nonzero_fraction(at::zeros({5})), 0.0);
    EXPECT_DOUBLE_EQ(nonzero_fraction(at::ones({17})), 1.0);
}

TEST(spike_sparse, the_rule_picks_sparse_only_below_the_crossover) {
    EXPECT_TRUE(sparse_path_wins("conv2d", 0.01));
    EXPECT_FALSE(sparse_path_wins("conv2d", 0.5));
    EXPECT_TRUE(sparse_path_wins("linear", 0.001));
    EXPECT_FALSE(sparse_path_wins("linear", 0.5));
    EXPECT_FALSE(sparse_path_wins("batch_norm", 0.0));
}

// A converted zoo cnn: the executor with sparse layers gives the dense executor's output, and at least one layer's
// measured input is below the rule's threshold (so the sparse path did run).
TEST(spike_sparse, snn_executor_with_sparse_layers_equals_the_dense_executor) {
    at::NoGradGuard ng;
    zoo_options zo;
    zo.arch = "cnn";
    zo.input_shape = {1, 28, 28};
    graph ann = zoo_build(zo);
    at::manual_seed(0);
    const at::Tensor x = at::randn({6, 1, 28, 28});
    forward_options fo;
    fo.train = true; // BN statistics from this batch
    ann_forward(ann, x, fo);
    record_activation_stats(ann, x);
    for (int64_t T : {2, 4}) {
        convert_options co;
        co.T = T;
        const graph snn = convert_to_snn(ann, co);
        snn_options so;
        so.T = T;
        std::vector<double> nz(snn.nodes.size(), 1.0);
        so.observer = [&](int i, const node &, const at::Tensor & out) { nz[i] = nonzero_fraction(out); };
        const at::Tensor dense = snn_forward(snn, x, so).out;
        int sparse_layers = 0;
        for (const node & n : snn.nodes) {
            const bool conv = n.op == op_kind::conv2d, lin = n.op == op_kind::linear;
            sparse_layers += (conv || lin) && n.inputs[0] > 0 && sparse_path_wins(conv ? "conv2d" : "linear", nz[n.inputs[0]]);
        }
        EXPECT_GT(sparse_layers, 0) << "T = " << T;
        so.observer = nullptr;
        so.sparse = true;
        const at::Tensor sparse = snn_forward(snn, x, so).out;
        expect_close(sparse, dense);
    }
}
