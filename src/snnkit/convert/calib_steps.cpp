// snnkit/convert/calib_steps.cpp
#include "snnkit/convert/calib_steps.h"

#include "snnkit/convert/clipfloor.h"
#include "snnkit/core/error.h"
#include "snnkit/core/rng.h"
#include "snnkit/nn/forward.h"
#include "snnkit/optim/optimizer.h"

#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace snnkit {

namespace {

// floor with a straight-through gradient (identity in backward).
at::Tensor floor_ste(const at::Tensor & z) { return z + (at::floor(z) - z).detach(); }

void check_same_shape(const at::Tensor & a, const at::Tensor & r, const char * what) {
    if (a.sizes() != r.sizes()) {
        fail(what, "ANN activations and SNN rates differ in shape");
    }
}

} // namespace

at::Tensor calib_threshold_grid(const at::Tensor & xs_in, const at::Tensor & top, const at::Tensor & v_th_now, int64_t T,
                                const threshold_search_options & opt) {
    at::NoGradGuard ng;
    if (opt.grid < 1 || T < 1) {
        fail("threshold search", "grid and T must be positive");
    }
    const at::Tensor xs = xs_in.to(top.scalar_type());
    const at::Tensor mx = at::clamp_min(top, 1e-8); // [C, 1]
    const at::Tensor target = opt.clip > 0 ? at::clamp(xs, 0.0, opt.clip) : at::relu(xs);
    at::Tensor best_err = at::full({xs.size(0), 1}, INFINITY, xs.options());
    at::Tensor best_v = mx.clone();
    for (int64_t k = 1; k <= opt.grid; ++k) {
        const at::Tensor v = mx * (static_cast<double>(k) / static_cast<double>(opt.grid));
        const at::Tensor err = (clipfloor(xs, T, v, opt.shift) - target).pow(2).sum(1, true);
        const at::Tensor better = err < best_err; // ties keep the smaller threshold
        best_err = at::where(better, err, best_err);
        best_v = at::where(better, v, best_v);
    }
    // A channel (or layer) that never goes above 0 has no error to minimise: it keeps the threshold it had
    // (conversion's floor), not the grid's first point of a 1e-8 "maximum".
    if (v_th_now.numel() == best_v.numel()) {
        best_v = at::where(top > 0, best_v, v_th_now.reshape(best_v.sizes()).to(best_v.scalar_type()));
    }
    const bool per_channel = v_th_now.dim() == 1 && xs.size(0) == v_th_now.size(0);
    return per_channel ? best_v.reshape({-1}).contiguous() : best_v.reshape({}).contiguous();
}

at::Tensor calib_threshold_search(const at::Tensor & pre, const at::Tensor & v_th_now, int64_t T,
                                  const threshold_search_options & opt, at::Generator & gen) {
    at::NoGradGuard ng;
    const bool per_channel = v_th_now.dim() == 1 && pre.dim() >= 2;
    // [C, M] per channel, or [1, M]
    at::Tensor xs = per_channel ? pre.transpose(0, 1).reshape({pre.size(1), -1}) : pre.reshape({1, -1});
    // The grid spans (0, max(x)] over all values, also when the error is measured on a sample of them.
    const at::Tensor top = xs.amax(1, true);
    const int64_t m = xs.size(1), keep = std::max<int64_t>(1, opt.max_values / xs.size(0));
    if (m > keep) {
        xs = xs.index_select(1, at::randint(m, {keep}, gen, at::kLong));
    }
    return calib_threshold_grid(xs, top, v_th_now, T, opt);
}

at::Tensor calib_bias_correction_from_sums(const at::Tensor & e_sum_channel, int64_t count) {
    return e_sum_channel / static_cast<double>(std::max<int64_t>(1, count));
}

at::Tensor calib_potential_correction_from_sums(const at::Tensor & e_sum_neuron, int64_t images, int64_t T) {
    return e_sum_neuron * (static_cast<double>(T) / static_cast<double>(std::max<int64_t>(1, images)));
}

at::Tensor calib_bias_correction(const at::Tensor & ann_act, const at::Tensor & snn_rate) {
    check_same_shape(ann_act, snn_rate, "bias correction");
    const at::Tensor e = ann_act - snn_rate;
    std::vector<int64_t> dims{0}; // every dim but the channel (dim 1)
    for (int64_t d = 2; d < e.dim(); ++d) {
        dims.push_back(d);
    }
    return calib_bias_correction_from_sums(e.sum(dims), e.numel() / std::max<int64_t>(1, e.size(1)));
}

at::Tensor calib_potential_correction(const at::Tensor & ann_act, const at::Tensor & snn_rate, int64_t T) {
    check_same_shape(ann_act, snn_rate, "potential correction");
    return calib_potential_correction_from_sums((ann_act - snn_rate).sum(0), ann_act.size(0), T);
}

at::Tensor add_potential_correction(const at::Tensor & v0, const at::Tensor & pc) {
    if (!v0.defined()) {
        return pc.contiguous();
    }
    if (v0.dim() == 1 && pc.dim() > 1) { // per channel [C] onto [C, H, W]
        std::vector<int64_t> s(pc.dim(), 1);
        s[0] = -1;
        return (pc + v0.reshape(s)).contiguous();
    }
    return (pc + v0).contiguous(); // a scalar, or already per neuron
}

std::pair<at::Tensor, at::Tensor> calib_weights(const node & layer, const at::Tensor & s_in, const at::Tensor & rest,
                                                const at::Tensor & ann_act, const at::Tensor & v_th, const at::Tensor & v0,
                                                int64_t T, const weight_calib_options & opt) {
    if (layer.op != op_kind::conv2d && layer.op != op_kind::linear) {
        fail("layer '" + layer.name + "'", "weight calibration needs a conv or linear layer");
    }
    node work = layer;
    at::Tensor w = layer.params.at("weight").detach().clone().requires_grad_(true);
    at::Tensor b = (layer.params.count("bias") ? layer.params.at("bias") : at::zeros({layer.attrs.out})).detach().clone();
    b.requires_grad_(true);
    work.params["weight"] = w;
    work.params["bias"] = b;
    optimizer_options oo;
    oo.kind = "adam";
    oo.lr = opt.lr;
    oo.weight_decay = 0;
    optimizer adam({{"weight", w}, {"bias", b}}, oo);
    std::vector<int64_t> vshape(ann_act.dim(), 1);
    if (v_th.dim() == 1) {
        vshape[1] = -1;
    }
    const at::Tensor v = v_th.reshape(vshape);
    at::Tensor shift = at::zeros({}, ann_act.options());
    if (v0.defined()) {
        // v(0) is a scalar, per channel ([C], like a channel-wise V_th) or per neuron (a sample's shape).
        const at::Tensor v0b = v0.dim() == 1 ? v0.reshape(vshape) : v0.dim() == 0 ? v0 : v0.unsqueeze(0);
        shift = (v0b / v).to(ann_act.scalar_type());
    }
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(opt.seed);
    const int64_t n = s_in.size(0);
    const double t = static_cast<double>(T);
    for (int64_t it = 0; it < opt.iters; ++it) {
        const at::Tensor idx = at::randint(n, {std::min(opt.batch, n)}, gen, at::kLong);
        at::Tensor pre = apply_op(work, {s_in.index_select(0, idx)}, false);
        if (rest.defined()) {
            pre = pre + rest.index_select(0, idx);
        }
        const at::Tensor out = v / t * at::clamp(floor_ste(pre * t / v + shift), 0.0, t);
        const at::Tensor loss = (out - ann_act.index_select(0, idx)).pow(2).mean();
        adam.zero_grad();
        loss.backward();
        adam.step(cosine_lr(opt.lr, 0.0, it, opt.iters));
    }
    return {w.detach().contiguous(), b.detach().contiguous()};
}

} // namespace snnkit
