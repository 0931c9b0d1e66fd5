// snnkit/nn/spike_conv_int8.cpp
#include "snnkit/nn/spike_conv_int8.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/spike_conv_bf16.h"

#include <ATen/Parallel.h>

#include <string>

namespace snnkit {

std::pair<at::Tensor, at::Tensor> spike_conv_int8_weight(const at::Tensor & weight, const at::Tensor & amp) {
    const char * what = "spike_conv_int8_weight";
    if (weight.dim() != 4) {
        fail(what, "weight must be [O, C, kh, kw], got " + std::to_string(weight.dim()) + " dims");
    }
    const int64_t O = weight.size(0);
    const at::Tensor w = spike_folded_weight(weight, amp, at::kDouble, what);
    if (!at::isfinite(w).all().item<bool>()) {
        fail(what, "the weights hold NaN or Inf");
    }
    const at::Tensor m = w.abs().amax({1, 2, 3});
    const at::Tensor s0 = at::where(m > 0, m / 127.0, at::ones_like(m));
    at::Tensor r = w / s0.view({O, 1, 1, 1}); // in [-127, 127]
    const at::Tensor q0 = r.round();
    r = (r - q0) * 254.0; // in [-127, 127]: the remainder was in [-1/2, 1/2]
    const at::Tensor q1 = r.round();
    r = (r - q1) * 254.0;
    const at::Tensor q2 = r.round();
    const at::Tensor parts = at::cat({q0, q1, q2}, 0).to(at::kChar).contiguous();
    const at::Tensor scales = at::cat({s0, s0 / 254.0, s0 / (254.0 * 254.0)}).to(at::kFloat).contiguous();
    return {parts, scales};
}

at::Tensor spike_pack_u8(const at::Tensor & x, int64_t strip, int64_t gap, int levels, const at::Tensor & inv_quantum) {
    const char * what = "spike_pack_u8";
    if (x.dim() != 4 || x.scalar_type() != at::kFloat) {
        fail(what, "x must be a float tensor [N, C, H, W]");
    }
    if (levels < 1 || levels > spike_int8_max_levels || strip < 1 || gap < 0) {
        fail(what, "levels must be 1.." + std::to_string(spike_int8_max_levels) + ", strip >= 1 and gap >= 0");
    }
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    at::Tensor q;
    if (levels == 1) {
        q = x.ne(0).view(at::kByte); // bool and uint8 share their bytes: 0 / 1
    } else {
        if (!inv_quantum.defined() || (inv_quantum.numel() != 1 && inv_quantum.numel() != C)) {
            fail(what, "levels > 1 need 1 / the quantum, one value or one per channel");
        }
        const at::Tensor iq = inv_quantum.numel() == 1 ? inv_quantum.reshape({}) : inv_quantum.view({1, C, 1, 1});
        q = at::round(x * iq.to(at::kFloat)).clamp_(0, levels).to(at::kByte);
    }
    const at::Tensor nhwc = q.permute({0, 2, 3, 1}); // a view; contiguous when x is channels last
    if (strip <= 1 && gap == 0) {
        return nhwc.contiguous();
    }
    const int64_t rows = (N + strip - 1) / strip;
    at::Tensor z = at::zeros({rows * strip, H, W + gap, C}, q.options());
    z.narrow(0, 0, N).narrow(2, 0, W).copy_(nhwc);
    return z.view({rows, strip, H, W + gap, C}).permute({0, 2, 1, 3, 4}).reshape({rows, H, strip * (W + gap), C});
}

void spike_combine_parts(const at::Tensor & y, const at::Tensor & bias, at::Tensor & out) {
    const int64_t rows = out.size(0), O = out.size(1);
    if (y.scalar_type() != at::kFloat || out.scalar_type() != at::kFloat || !y.is_contiguous() ||
        !out.is_contiguous() || y.numel() != 3 * rows * O || (bias.defined() && bias.numel() != O)) {
        fail("spike_combine_parts", "expected y [rows, 3 O] and out [rows, O], contiguous float");
    }
    const at::Tensor b = bias.defined() ? bias.detach().to(at::kFloat).contiguous() : at::Tensor();
    const float * yp = y.data_ptr<float>();
    const float * bp = b.defined() ? b.data_ptr<float>() : nullptr;
    float * op = out.data_ptr<float>();
    at::parallel_for(0, rows, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const float * a = yp + r * 3 * O;
            float * o = op + r * O;
            if (bp != nullptr) {
                for (int64_t c = 0; c < O; ++c) {
                    o[c] = a[c] + a[O + c] + a[2 * O + c] + bp[c];
                }
            } else {
                for (int64_t c = 0; c < O; ++c) {
                    o[c] = a[c] + a[O + c] + a[2 * O + c];
                }
            }
        }
    });
}

} // namespace snnkit
