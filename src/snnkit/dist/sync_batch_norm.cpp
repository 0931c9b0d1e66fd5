// snnkit/dist/sync_batch_norm.cpp
#include "snnkit/dist/sync_batch_norm.h"

#include "snnkit/core/error.h"

#include <torch/csrc/autograd/custom_function.h>

namespace snnkit {

namespace {

// Sum over ranks whose backward is the sum over ranks of the incoming gradients.
struct all_reduce_sum_fn : public torch::autograd::Function<all_reduce_sum_fn> {
    static at::Tensor forward(torch::autograd::AutogradContext * ctx, const at::Tensor & x, int64_t pg_ptr) {
        ctx->saved_data["pg"] = pg_ptr;
        at::Tensor y = x.detach().clone();
        reinterpret_cast<process_group *>(pg_ptr)->all_reduce_sum(y, "--sync-bn statistics");
        return y;
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext * ctx,
                                                   torch::autograd::variable_list grad) {
        auto * pg = reinterpret_cast<process_group *>(ctx->saved_data["pg"].toInt());
        at::Tensor g = grad[0].contiguous().clone();
        pg->all_reduce_sum(g, "--sync-bn gradient");
        return {g, at::Tensor()};
    }
};

} // namespace

at::Tensor sync_batch_norm(process_group & pg, const node & n, const at::Tensor & x) {
    if (x.dim() < 2) {
        fail("layer '" + n.name + "'", "--sync-bn needs an input [B, C, ...]");
    }
    const int64_t C = x.size(1);
    std::vector<int64_t> dims = {0};
    for (int64_t d = 2; d < x.dim(); ++d) {
        dims.push_back(d);
    }
    const at::Tensor xd = x.to(at::kDouble);
    const double count = static_cast<double>(x.numel() / std::max<int64_t>(1, C));
    at::Tensor stats = at::cat({xd.sum(dims), (xd * xd).sum(dims), at::full({1}, count, xd.options())});
    stats = all_reduce_sum_fn::apply(stats, reinterpret_cast<int64_t>(&pg));
    const at::Tensor total = stats.narrow(0, 2 * C, 1);
    const at::Tensor mean = stats.narrow(0, 0, C) / total;
    const at::Tensor var = stats.narrow(0, C, C) / total - mean * mean; // biased, as BatchNorm normalises
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = C;
    const at::Tensor scale = (at::rsqrt(var + n.attrs.eps) * n.tensor("weight").to(at::kDouble)).view(shape);
    const at::Tensor y = (xd - mean.view(shape)) * scale + n.tensor("bias").to(at::kDouble).view(shape);
    {
        at::NoGradGuard no_grad;
        const double m = n.attrs.momentum, N = total.item<double>();
        at::Tensor rm = n.tensor("running_mean"), rv = n.tensor("running_var");
        rm.mul_(1.0 - m).add_(mean.detach().to(rm.scalar_type()), m);
        rv.mul_(1.0 - m).add_((var.detach() * (N / std::max(1.0, N - 1.0))).to(rv.scalar_type()), m);
    }
    return y.to(x.scalar_type());
}

} // namespace snnkit
