// snnkit/nn/bn_fold.cpp
#include "snnkit/nn/bn_fold.h"
#include <ATen/core/grad_mode.h>

namespace snnkit {

int fold_batch_norm(graph & g) {
    int folded = 0;
    for (size_t i = 1; i < g.nodes.size();) {
        node & bn = g.nodes[i];
        if (bn.op != op_kind::batch_norm) {
            ++i;
            continue;
        }
        const int pi = bn.inputs[0];
        node & prev = g.nodes[pi];
        const bool foldable = (prev.op == op_kind::conv2d || prev.op == op_kind::linear) &&
                              g.consumer_counts()[pi] == 1 && prev.attrs.out == bn.attrs.in;
        if (!foldable) {
            ++i;
            continue;
        }
        at::NoGradGuard no_grad;
        const at::Tensor w = prev.params.at("weight").detach().to(at::kDouble);
        const at::Tensor gamma = bn.tensor("weight").detach().to(at::kDouble);
        const at::Tensor beta = bn.tensor("bias").detach().to(at::kDouble);
        const at::Tensor mean = bn.tensor("running_mean").detach().to(at::kDouble);
        const at::Tensor var = bn.tensor("running_var").detach().to(at::kDouble);
        const at::Tensor s = gamma / at::sqrt(var + bn.attrs.eps);
        std::vector<int64_t> view(w.dim(), 1);
        view[0] = -1;
        const at::Tensor b = prev.params.count("bias") ? prev.params.at("bias").detach().to(at::kDouble)
                                                       : at::zeros_like(mean);
        const auto dtype = prev.params.at("weight").scalar_type();
        prev.params["weight"] = (w * s.view(view)).to(dtype).contiguous();
        prev.params["bias"] = ((b - mean) * s + beta).to(dtype).contiguous();
        g.remove_node(static_cast<int>(i));
        ++folded;
    }
    return folded;
}

} // namespace snnkit
