// snnkit/nn/snn_batch.cpp
#include "snnkit/nn/snn_batch.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

namespace snnkit {

int64_t snn_batch_for_memory(const graph & g, const at::Tensor & sample, int64_t T, int64_t max_batch, int64_t bytes) {
    if (T < 1 || max_batch < 1 || bytes < 1) {
        fail("snn_batch_for_memory", "T, the batch and the byte budget must be positive");
    }
    at::NoGradGuard ng;
    const at::Tensor one = sample.dim() == static_cast<int64_t>(g.input_shape.size()) ? sample.unsqueeze(0)
                                                                                      : sample.slice(0, 0, 1);
    int64_t largest = 1; // bytes of one sample's largest activation at one step (outputs [1, ...] / [1, 1, ...])
    const node_observer see = [&](int, const node &, const at::Tensor & out) {
        largest = std::max<int64_t>(largest, static_cast<int64_t>(out.numel() * out.element_size()));
    };
    const bool spiking = std::any_of(g.nodes.begin(), g.nodes.end(), [](const node & n) { return n.op == op_kind::spike; });
    if (spiking) {
        snn_options so;
        so.T = 1;
        so.observer = see;
        snn_forward(g, one, so);
    } else {
        forward_options fo;
        fo.observer = see;
        ann_forward(g, one, fo);
    }
    return std::clamp<int64_t>(bytes / (largest * T), 1, max_batch);
}

} // namespace snnkit
