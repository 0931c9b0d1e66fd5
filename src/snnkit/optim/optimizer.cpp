// snnkit/optim/optimizer.cpp: the update rules follow PyTorch's torch.optim definitions.
#include "snnkit/optim/optimizer.h"

#include "snnkit/core/error.h"

#include <ATen/core/grad_mode.h>
#include <cmath>

namespace snnkit {

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
        if (opt_.kind == "sgd") {
            // d = g + wd p; buf = momentum buf + d (buf = d on the first step); p -= lr (buf or d + momentum buf)
            at::Tensor d = wd != 0 ? g0.add(p, wd) : g0;
            at::Tensor & buf = m1_[i];
            if (opt_.momentum != 0) {
                if (steps_ == 1) {
                    buf.copy_(d);
                } else {
                    buf.mul_(opt_.momentum).add_(d);
                }
                d = opt_.nesterov ? d.add(buf, opt_.momentum) : buf;
            }
            p.add_(d, -lr);
        } else {
            // Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr m_hat / (sqrt(v_hat) + eps)
            at::Tensor g = g0;
            if (opt_.kind == "adamw") {
                p.mul_(1.0 - lr * wd);
            } else if (wd != 0) {
                g = g0.add(p, wd);
            }
            m1_[i].mul_(opt_.beta1).add_(g, 1.0 - opt_.beta1);
            m2_[i].mul_(opt_.beta2).addcmul_(g, g, 1.0 - opt_.beta2);
            const double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(steps_));
            const double bc2 = 1.0 - std::pow(opt_.beta2, static_cast<double>(steps_));
            const at::Tensor denom = (m2_[i].sqrt() / std::sqrt(bc2)).add_(opt_.eps);
            p.addcdiv_(m1_[i], denom, -lr / bc1);
        }
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
