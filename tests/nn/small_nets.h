// Small networks shared by the tests of several modules.
#pragma once

#include "snnkit/nn/graph.h"

#include <ATen/ATen.h>

namespace snnkit_test {

// [c, hw, hw] -> conv c->width 3x3 / pad 1 (width x hw x hw: the largest activation) -> ReLU, or a spike node of
// threshold v_th when spiking -> avg-pool 2 -> flatten -> fc -> 3 classes (builder seed 1).
inline snnkit::graph conv_pool_net(int64_t c, int64_t hw, int64_t width, bool spiking = true, double v_th = 0.5) {
    snnkit::graph_builder b({c, hw, hw}, 3, 1);
    b.conv2d("c1", c, width, 3, 1, 1, true);
    b.relu("r1");
    b.avg_pool("p1", 2, 2);
    b.flatten("flat");
    b.linear("fc", width * (hw / 2) * (hw / 2), 3);
    snnkit::graph g = b.finish("custom");
    if (spiking) {
        for (auto & n : g.nodes) {
            if (n.op == snnkit::op_kind::relu) {
                n.op = snnkit::op_kind::spike;
                n.buffers["v_th"] = at::full({}, v_th);
            }
        }
    }
    return g;
}

} // namespace snnkit_test
