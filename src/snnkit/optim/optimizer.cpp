// snnkit/optim/optimizer.cpp: the update rules follow PyTorch's torch.optim definitions.
#include "snnkit/optim/optimizer.h"

#include "snnkit/core/error.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <cmath>

namespace snnkit {

namespace {

// The updates run one pass over each parameter's elements (4.5 ms -> about 1 ms a step for the 815 k weights of
// the zoo cnn on one thread, against 3-5 ATen ops with a temporary), in the parameter's dtype, computed at ATen's
// op-math precision (float for half / bfloat16); a compiler may contract a multiply-add, as ATen's vector code does.
// They read and write contiguous tensors: others are staged in contiguous copies (staged / write_back).
constexpr int64_t update_grain = 1 << 15;

// t as a contiguous tensor of dtype dt: t itself when it is one, else a copy.
at::Tensor staged(const at::Tensor & t, at::ScalarType dt) {
    return t.is_contiguous() && t.scalar_type() == dt ? t : t.to(dt).contiguous();
}

// After an update on `work` (staged from `t`): the result into t, when it was a copy.
void write_back(at::Tensor & t, const at::Tensor & work) {
    if (!work.is_same(t)) {
        t.copy_(work);
    }
}

// SGD (torch.optim.SGD): d = g + wd p; buf = momentum buf + d (buf = d on the first step);
// p -= lr (nesterov ? d + momentum buf : buf); without momentum p -= lr d.
void sgd_update(at::Tensor & p, const at::Tensor & g, at::Tensor & buf, double lr, double wd, double momentum,
                bool nesterov, bool first) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(), "sgd_update", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        scalar_t * pp = p.data_ptr<scalar_t>();
        const scalar_t * gp = g.data_ptr<scalar_t>();
        scalar_t * bp = buf.data_ptr<scalar_t>();
        const auto lr_ = static_cast<acc_t>(lr), wd_ = static_cast<acc_t>(wd), mom = static_cast<acc_t>(momentum);
        at::parallel_for(0, p.numel(), update_grain, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
                const acc_t pi = pp[i];
                acc_t d = static_cast<acc_t>(gp[i]) + wd_ * pi;
                if (momentum != 0) {
                    const acc_t m = first ? d : static_cast<acc_t>(bp[i]) * mom + d;
                    bp[i] = static_cast<scalar_t>(m);
                    d = nesterov ? d + mom * m : m;
                }
                pp[i] = static_cast<scalar_t>(pi - lr_ * d);
            }
        });
    });
}

// Adam / AdamW (torch.optim.Adam / AdamW): adamw p *= 1 - lr wd, adam g += wd p; m = b1 m + (1 - b1) g;
// v = b2 v + (1 - b2) g^2; p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
void adam_update(at::Tensor & p, const at::Tensor & g, at::Tensor & m1, at::Tensor & m2, double lr,
                 const optimizer_options & o, double bc1, double bc2) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(), "adam_update", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        scalar_t * pp = p.data_ptr<scalar_t>();
        const scalar_t * gp = g.data_ptr<scalar_t>();
        scalar_t * mp = m1.data_ptr<scalar_t>();
        scalar_t * vp = m2.data_ptr<scalar_t>();
        const bool decoupled = o.kind == "adamw";
        const auto decay = static_cast<acc_t>(1.0 - lr * o.weight_decay), wd = static_cast<acc_t>(o.weight_decay);
        const auto b1 = static_cast<acc_t>(o.beta1), c1 = static_cast<acc_t>(1.0 - o.beta1);
        const auto b2 = static_cast<acc_t>(o.beta2), c2 = static_cast<acc_t>(1.0 - o.beta2);
        const auto sbc2 = static_cast<acc_t>(std::sqrt(bc2)), eps = static_cast<acc_t>(o.eps);
        const auto step = static_cast<acc_t>(-lr / bc1);
        at::parallel_for(0, p.numel(), update_grain, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
                acc_t pi = pp[i], gi = gp[i];
                if (decoupled) {
                    pi = pi * decay;
                } else if (o.weight_decay != 0) {
                    gi = gi + wd * pi;
                }
                const acc_t m = static_cast<acc_t>(mp[i]) * b1 + c1 * gi;
                const acc_t v = static_cast<acc_t>(vp[i]) * b2 + c2 * gi * gi;
                mp[i] = static_cast<scalar_t>(m);
                vp[i] = static_cast<scalar_t>(v);
                pp[i] = static_cast<scalar_t>(pi + step * (m / (std::sqrt(v) / sbc2 + eps)));
            }
        });
    });
}

} // namespace

optimizer::optimizer(named_tensors params, optimizer_options opt) : params_(std::move(params)), opt_(std::move(opt)) {
    if (opt_.kind != "sgd" && opt_.kind != "adam" && opt_.kind != "adamw") {
        fail("--optimizer " + opt_.kind, "unknown optimizer (known: sgd, adam, adamw)");
    }
    for (const auto & p : params_) {
        m1_.push_back(at::zeros_like(p.second).detach());
        m2_.push_back(opt_.kind == "sgd" ? at::Tensor() : at::zeros_like(p.second).detach());
    }
}

void optimizer::zero_grad() {
    for (auto & p : params_) {
        at::Tensor g = p.second.mutable_grad();
        if (g.defined()) {
            g.zero_();
        }
    }
}

void optimizer::step(double lr) {
    at::NoGradGuard no_grad;
    ++steps_;
    const double wd = opt_.weight_decay;
    for (size_t i = 0; i < params_.size(); ++i) {
        at::Tensor p = params_[i].second;
        const at::Tensor g0 = p.grad();
        if (!g0.defined()) {
            continue;
        }
        const at::ScalarType dt = p.scalar_type();
        if (!at::isFloatingType(dt)) {
            fail("optimizer", "parameter '" + params_[i].first + "' is not a floating-point tensor");
        }
        at::Tensor pw = staged(p, dt), m1w = staged(m1_[i], dt);
        const at::Tensor g = staged(g0, dt);
        if (opt_.kind == "sgd") {
            sgd_update(pw, g, m1w, lr, wd, opt_.momentum, opt_.nesterov, steps_ == 1);
        } else {
            at::Tensor m2w = staged(m2_[i], dt);
            adam_update(pw, g, m1w, m2w, lr, opt_, 1.0 - std::pow(opt_.beta1, static_cast<double>(steps_)),
                        1.0 - std::pow(opt_.beta2, static_cast<double>(steps_)));
            write_back(m2_[i], m2w);
        }
        write_back(p, pw);
        write_back(m1_[i], m1w);
    }
}

named_tensors optimizer::state() const {
    named_tensors s;
    s.emplace_back(opt_.kind + ".steps", at::full({}, steps_, at::kLong));
    for (size_t i = 0; i < params_.size(); ++i) {
        s.emplace_back(opt_.kind + "." + params_[i].first + ".m1", m1_[i]);
        if (m2_[i].defined()) {
            s.emplace_back(opt_.kind + "." + params_[i].first + ".m2", m2_[i]);
        }
    }
    return s;
}

void optimizer::load_state(const named_tensors & s) {
    std::map<std::string, at::Tensor> by(s.begin(), s.end());
    auto get = [&](const std::string & k, const at::Tensor & like) {
        auto it = by.find(k);
        if (it == by.end()) {
            fail("checkpoint", "optimizer state '" + k + "' is missing");
        }
        if (like.defined() && it->second.sizes() != like.sizes()) {
            fail("checkpoint", "optimizer state '" + k + "' has the wrong shape");
        }
        return it->second;
    };
    steps_ = get(opt_.kind + ".steps", at::Tensor()).item<int64_t>();
    for (size_t i = 0; i < params_.size(); ++i) {
        m1_[i].copy_(get(opt_.kind + "." + params_[i].first + ".m1", m1_[i]));
        if (m2_[i].defined()) {
            m2_[i].copy_(get(opt_.kind + "." + params_[i].first + ".m2", m2_[i]));
        }
    }
}

double cosine_lr(double lr, double lr_min, int64_t step, int64_t total) {
    if (total <= 0) {
        return lr;
    }
    const double pi = 3.14159265358979323846;
    const double t = std::min(1.0, static_cast<double>(step) / static_cast<double>(total));
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + std::cos(pi * t));
}

} // namespace snnkit
