// The memory-bounded batch of an SNN simulation (snn_batch_for_memory) against the closed form
// bytes / (largest activation of one sample at one step x T).
#include "snnkit/core/error.h"
#include "snnkit/nn/snn_batch.h"
#include "nn/small_nets.h"

#include <gtest/gtest.h>

using namespace snnkit;
using snnkit_test::conv_pool_net;

TEST(snn_batch, largest_activation_times_T_within_the_budget) {
    const int64_t per_step = 8 * 6 * 6 * 4; // bytes of c1's output (and of the spikes) for one sample
    for (bool spiking : {false, true}) {
        const graph g = conv_pool_net(2, 6, 8, spiking, 1.0);
        const at::Tensor x = at::rand({5, 2, 6, 6});
        // exactly 10 samples of T = 4 steps fit; the cap and the floor of 1 hold
        EXPECT_EQ(snn_batch_for_memory(g, x, 4, 100, per_step * 4 * 10), 10) << spiking;
        EXPECT_EQ(snn_batch_for_memory(g, x, 4, 100, per_step * 4 * 10 + per_step * 4 - 1), 10) << spiking;
        EXPECT_EQ(snn_batch_for_memory(g, x[0], 8, 100, per_step * 8 * 3), 3) << spiking; // one sample [C, H, W]
        EXPECT_EQ(snn_batch_for_memory(g, x, 4, 7, int64_t(1) << 30), 7) << spiking;
        EXPECT_EQ(snn_batch_for_memory(g, x, 64, 100, 1), 1) << spiking;
    }
    EXPECT_THROW(snn_batch_for_memory(conv_pool_net(2, 6, 8, true, 1.0), at::rand({1, 2, 6, 6}), 0, 10), error);
}
