// snnkit/nn/input_check.cpp
#include "snnkit/nn/input_check.h"

#include "snnkit/core/error.h"
#include "snnkit/core/shape_text.h"

namespace snnkit {

at::Tensor check_input_batch(const at::Tensor & x, const std::vector<int64_t> & sample, const std::string & where,
                             bool time_major) {
    if (!x.defined()) {
        fail(where, "no tensor given");
    }
    if (!x.device().is_cpu()) {
        fail(where, "tensor is on device '" + x.device().str() + "'; only CPU tensors are supported (use .cpu())");
    }
    if (x.scalar_type() != at::kFloat) {
        fail(where, std::string("tensor has dtype ") + c10::toString(x.scalar_type()) +
                        "; expected float32 (use .float())");
    }
    const int64_t d = static_cast<int64_t>(sample.size());
    const bool plain = x.dim() == d + 1;
    const bool temporal = time_major && x.dim() == d + 2;
    const std::vector<int64_t> got(x.sizes().end() - std::min<int64_t>(x.dim(), d), x.sizes().end());
    if ((!plain && !temporal) || got != sample) {
        fail(where, "tensor has shape " + shape_text(x.sizes()) + "; expected [N, " +
                        shape_text(sample).substr(1) + (time_major ? " or [T, N, " + shape_text(sample).substr(1) : std::string()));
    }
    if (x.numel() == 0) {
        fail(where, "tensor of shape " + shape_text(x.sizes()) + " holds no samples");
    }
    if (!at::isfinite(x).all().item<bool>()) {
        fail(where, "tensor contains NaN or Inf");
    }
    return x.contiguous();
}

} // namespace snnkit
