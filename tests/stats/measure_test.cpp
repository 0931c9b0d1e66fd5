// Running an SNN over a dataset (run_snn_on_dataset) in memory-bounded batches: the automatic batch against
// the closed form bytes / (largest activation of one sample at one step x T), and the counts of correct
// predictions against one simulation of the whole set.
#include "snnkit/core/error.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/stats/measure.h"
#include "nn/small_nets.h"

#include <gtest/gtest.h>

using namespace snnkit;
using snnkit_test::conv_pool_net;

namespace {

dataset random_set(int64_t n, int64_t c, int64_t hw) {
    at::manual_seed(3);
    dataset d;
    d.images = at::randint(0, 256, {n, c, hw, hw}, at::kLong).to(at::kByte);
    d.labels = at::randint(0, 3, {n}, at::kLong);
    d.num_classes = 3;
    return d;
}

} // namespace

TEST(measure, auto_batch_keeps_T_times_the_largest_activation_within_an_eighth_of_the_budget) {
    const graph g = conv_pool_net(2, 64, 16);
    const dataset d = random_set(4, 2, 64);
    augment_options pre;
    // c1's output for one sample at one step: 16 x 64 x 64 floats = 256 KiB; over T = 64 steps 16 MiB, so the
    // default budget (1 GiB, 128 MiB per activation tensor) holds 8 samples, a budget of 8 GiB 64
    EXPECT_EQ(snn_tensor_bytes(snn_default_memory_budget), int64_t(128) << 20);
    EXPECT_EQ(snn_run_batch(g, d, pre, 64, 0), 8);
    EXPECT_EQ(snn_run_batch(g, d, pre, 64, 0, 200, int64_t(8) << 30), 64);
    EXPECT_EQ(snn_run_batch(g, d, pre, 16, 0), 32);
    EXPECT_EQ(snn_run_batch(g, d, pre, 16, 0, 200, int64_t(8) << 30), 200); // 256 would fit: the cap
    EXPECT_EQ(snn_run_batch(g, d, pre, 16, 0, 1000, int64_t(8) << 30), 256); // a higher cap: the bound
    EXPECT_EQ(snn_run_batch(g, d, pre, 1, 0, 1000), 512);
    EXPECT_EQ(snn_run_batch(g, d, pre, 64, 500), 500); // an explicit batch is honoured
    EXPECT_THROW(snn_run_batch(g, d, pre, 64, -1), error);
    dataset empty = d;
    empty.images = d.images.slice(0, 0, 0);
    EXPECT_EQ(snn_run_batch(g, empty, pre, 64, 0), 200);
}

TEST(measure, correct_counts_do_not_depend_on_the_batch) {
    const graph g = conv_pool_net(2, 6, 8);
    const int64_t n = 23, T = 6;
    const dataset d = random_set(n, 2, 6);
    augment_options pre;
    pre.mean = {0.4f, 0.5f};
    pre.std = {0.2f, 0.3f};
    // reference: one simulation of all 23 images
    snn_options so;
    so.T = T;
    const at::Tensor x = make_batch(d.images, at::arange(0, n, at::kLong), pre, 0);
    const at::Tensor out = snn_forward(g, x, so).out; // [T, N, classes]
    const at::Tensor want = (out.cumsum(0).argmax(-1) == d.labels.unsqueeze(0)).sum(1);
    ASSERT_EQ(want.size(0), T);
    for (int64_t batch : {0, 1, 7, 23, 100}) {
        snn_run_options ro;
        ro.T = T;
        ro.batch = batch;
        const at::Tensor got = run_snn_on_dataset(g, d, pre, ro);
        EXPECT_TRUE(at::equal(got, want)) << "batch " << batch << ": " << got << " vs " << want;
    }
}
