// snnkit/nn/qcfs.cpp
#include "snnkit/nn/qcfs.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/forward.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <map>

namespace snnkit {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One pass over z: the output lambda / L * clamp(k, 0, L) with k = floor(z * L / lambda + 1/2) (the operation
// order of clipfloor(), so the values are bit-identical to it), and the region of each element for backward
// (0: k < 0, 1: 0 <= k <= L, 2: k > L) as one byte, so that backward needs neither z nor a second floor.
template <typename T>
void qcfs_kernel(const T * z, T lam, int64_t levels, T * out, uint8_t * region, int64_t n) {
    const T L = static_cast<T>(levels);
    const T step = lam / L;
    at::parallel_for(0, n, 16384, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T k = std::floor(z[i] * L / lam + T(0.5));
            const T kc = k < T(0) ? T(0) : (k > L ? L : k);
            out[i] = step * kc;
            region[i] = static_cast<uint8_t>(k < T(0) ? 0 : (k > L ? 2 : 1));
        }
    });
}

struct qcfs_function : public torch::autograd::Function<qcfs_function> {
    static at::Tensor forward(AutogradContext * ctx, const at::Tensor & z, const at::Tensor & lambda, int64_t levels) {
        const at::Tensor zc = z.contiguous();
        at::Tensor out = at::empty_like(zc);
        at::Tensor region = at::empty(zc.sizes(), zc.options().dtype(at::kByte));
        AT_DISPATCH_FLOATING_TYPES(zc.scalar_type(), "qcfs_forward", [&] {
            qcfs_kernel<scalar_t>(zc.data_ptr<scalar_t>(), lambda.item<scalar_t>(), levels, out.data_ptr<scalar_t>(),
                                  region.data_ptr<uint8_t>(), zc.numel());
        });
        // d/dlambda inside is q - z / lambda = (out - z) / lambda: saved as out and z (both needed only then)
        const bool lam_grad = lambda.requires_grad();
        ctx->save_for_backward({region, lambda, lam_grad ? zc : at::Tensor(), lam_grad ? out : at::Tensor()});
        return out;
    }

    static variable_list backward(AutogradContext * ctx, variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor & region = saved[0];
        const at::Tensor & lambda = saved[1];
        const at::Tensor & g = grads[0];
        const at::Tensor inside = region.eq(1);
        at::Tensor gz, glam;
        if (ctx->needs_input_grad(0)) {
            gz = g * inside.to(g.scalar_type());
        }
        if (ctx->needs_input_grad(1)) {
            const at::Tensor & z = saved[2];
            const at::Tensor & out = saved[3];
            const at::Tensor d = at::where(inside, (out - z) / lambda, region.eq(2).to(z.scalar_type()));
            glam = (g * d).sum().reshape(lambda.sizes()).to(lambda.scalar_type());
        }
        return {gz, glam, at::Tensor()};
    }
};

// The q-quantile of a flat tensor's values (k-th smallest, k = ceil(q n)).
double quantile_of(const at::Tensor & flat, double q) {
    const int64_t n = flat.numel();
    const int64_t k = std::max<int64_t>(1, std::min<int64_t>(n, static_cast<int64_t>(std::ceil(q * double(n)))));
    return std::get<0>(at::kthvalue(flat, k)).item<double>();
}

} // namespace

at::Tensor qcfs_activation(const at::Tensor & z, const at::Tensor & lambda, int64_t levels) {
    if (levels < 1) {
        fail("qcfs", "levels must be at least 1");
    }
    if (!lambda.defined() || lambda.dim() != 0) {
        fail("qcfs", "lambda must be a 0-d tensor");
    }
    return qcfs_function::apply(z, lambda, levels);
}

int qcfs_from_relu(graph & g, const at::Tensor & x, const qcfs_init_options & opt) {
    if (opt.levels < 1) {
        fail("--levels", "must be at least 1");
    }
    if (!(opt.quantile > 0 && opt.quantile <= 1)) {
        fail("qcfs", "the lambda quantile must be in (0, 1]");
    }
    if (x.size(0) < 2) {
        fail("qcfs", "lambda statistics need at least 2 images (BatchNorm batch statistics)");
    }
    // The statistics pass on a copy: batch-statistics BN updates running stats, which g must keep.
    graph probe = g.clone();
    for (auto & n : probe.nodes) {
        if (n.op == op_kind::dropout) {
            n.attrs.p = 0.0;
        }
    }
    std::map<int, double> lam;
    forward_options fo;
    fo.train = true;
    fo.observer = [&](int i, const node & n, const at::Tensor & out) {
        if (n.op != op_kind::relu && n.op != op_kind::clip_relu) {
            return;
        }
        const at::Tensor flat = out.detach().reshape({-1});
        double v = quantile_of(flat, opt.quantile);
        if (!(v > 0)) {
            v = flat.max().item<double>();
        }
        lam[i] = v > 0 && std::isfinite(v) ? v : 1.0;
    };
    {
        at::NoGradGuard ng;
        ann_forward(probe, x, fo);
    }
    int count = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        node & n = g.nodes[i];
        if (n.op == op_kind::relu || n.op == op_kind::clip_relu) {
            n.op = op_kind::qcfs;
            n.attrs.clip = 0.0;
            n.buffers.clear(); // the ReLU's activation statistics no longer describe the layer
            n.params["lambda"] = at::full({}, lam.at(static_cast<int>(i)), at::kFloat);
        }
        if (n.op == op_kind::qcfs) {
            n.attrs.levels = opt.levels;
            ++count;
        }
    }
    g.validate();
    return count;
}

} // namespace snnkit
