// snnkit/nn/spike_max_pool.cpp
#include "snnkit/nn/spike_max_pool.h"

#include "snnkit/core/error.h"
#include "snnkit/core/shape_text.h"

#include <string>
#include <tuple>

namespace snnkit {

spike_max_pool_result spike_max_pool(const at::Tensor & x, const spike_max_pool_options & opt,
                                     const spike_max_pool_state & init) {
    const std::string where = "spiking max-pool";
    if (x.dim() != 5 || x.size(0) < 1) {
        fail(where, "expects time-first input [T, N, C, H, W] with T >= 1, got " + shape_text(x.sizes()));
    }
    for (int d = 0; d < 2; ++d) {
        if (opt.kernel[d] < 1 || opt.stride[d] < 1 || opt.padding[d] < 0 || 2 * opt.padding[d] > opt.kernel[d]) {
            fail(where, "kernel and stride must be positive and padding at most half the kernel");
        }
        if (x.size(3 + d) + 2 * opt.padding[d] < opt.kernel[d]) {
            fail(where, "the window is larger than the padded input " + shape_text(x.sizes()));
        }
    }
    const int64_t T = x.size(0);
    at::Tensor sum = init.sum.defined() ? init.sum.to(x.scalar_type()) : at::zeros(x.sizes().slice(1), x.options());
    if (sum.sizes() != x.sizes().slice(1)) {
        fail(where, "state sum " + shape_text(sum.sizes()) + " does not match the input step " +
                        shape_text(x.sizes().slice(1)));
    }
    at::Tensor gate = init.gate;
    std::vector<at::Tensor> outs;
    outs.reserve(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
        const at::Tensor xt = x[t];
        sum = sum + xt;
        at::Tensor best, idx; // window maxima and their flat H*W positions (padding never wins)
        std::tie(best, idx) = at::max_pool2d_with_indices(sum, opt.kernel, opt.stride, opt.padding);
        if (!gate.defined()) {
            gate = idx;
        } else {
            if (gate.sizes() != idx.sizes() || gate.scalar_type() != at::kLong) {
                fail(where, "state gate " + shape_text(gate.sizes()) + " must be int64 " + shape_text(idx.sizes()));
            }
            // keep the gated input while it is still maximal: the gate moves only to a strictly larger sum
            const at::Tensor held = sum.flatten(2).gather(2, gate.flatten(2)).view_as(best);
            gate = at::where(held >= best, gate, idx);
        }
        outs.push_back(xt.flatten(2).gather(2, gate.flatten(2)).view_as(best));
    }
    spike_max_pool_result r;
    r.out = at::stack(outs);
    r.state.sum = sum;
    r.state.gate = gate;
    return r;
}

} // namespace snnkit
