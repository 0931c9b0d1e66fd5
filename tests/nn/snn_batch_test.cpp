// The memory-bounded batch of an SNN simulation (snn_batch_for_memory) against the closed form
// bytes / (largest activation of one sample at one step x T).
#include "snnkit/core/error.h"
#include "snnkit/nn/snn_batch.h"

#include <gtest/gtest.h>

using namespace snnkit;

namespace {

// [2, 6, 6] -> conv 2->8 (8x6x6 = 288 floats, the largest) -> ReLU -> avg-pool 2 -> flatten -> fc 72->3
graph small_net(bool spiking) {
    graph_builder b({2, 6, 6}, 3, 1);
    b.conv2d("c1", 2, 8, 3, 1, 1, true);
    b.relu("r1");
    b.avg_pool("p1", 2, 2);
    b.flatten("flat");
    b.linear("fc", 8 * 3 * 3, 3);
    graph g = b.finish("custom");
    if (spiking) {
        for (auto & n : g.nodes) {
            if (n.op == op_kind::relu) {
                n.op = op_kind::spike;
                n.buffers["v_th"] = at::full({}, 1.0);
            }
        }
    }
    return g;
}

} // namespace

TEST(snn_batch, largest_activation_times_T_within_the_budget) {
    const int64_t per_step = 8 * 6 * 6 * 4; // bytes of c1's output (and of the spikes) for one sample
    for (bool spiking : {false, true}) {
        const graph g = small_net(spiking);
        const at::Tensor x = at::rand({5, 2, 6, 6});
        // exactly 10 samples of T = 4 steps fit; the cap and the floor of 1 hold
        EXPECT_EQ(snn_batch_for_memory(g, x, 4, 100, per_step * 4 * 10), 10) << spiking;
        EXPECT_EQ(snn_batch_for_memory(g, x, 4, 100, per_step * 4 * 10 + per_step * 4 - 1), 10) << spiking;
        EXPECT_EQ(snn_batch_for_memory(g, x[0], 8, 100, per_step * 8 * 3), 3) << spiking; // one sample [C, H, W]
        EXPECT_EQ(snn_batch_for_memory(g, x, 4, 7, int64_t(1) << 30), 7) << spiking;
        EXPECT_EQ(snn_batch_for_memory(g, x, 64, 100, 1), 1) << spiking;
    }
    EXPECT_THROW(snn_batch_for_memory(small_net(true), at::rand({1, 2, 6, 6}), 0, 10), error);
}
