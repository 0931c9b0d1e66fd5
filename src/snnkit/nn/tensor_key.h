// snnkit/nn/tensor_key.h: how the per-run caches of prepared layers (spike_conv_bf16_cache, spike_gather_cache)
// recognise a layer: by the identity of its weight tensors (held by the cache, so an identity cannot pass to another
// tensor) and by their version counters, which every in-place change bumps.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace snnkit {

// The version of t's data: 0 for an undefined tensor, -1 for one without a counter (an inference tensor: nothing to
// key on, so its layer is prepared on every call).
inline int64_t tensor_version(const at::Tensor & t) {
    if (!t.defined()) {
        return 0;
    }
    return t.is_inference() ? -1 : static_cast<int64_t>(t._version());
}

// Whether a and b are the same tensor (both undefined counts as the same).
inline bool same_tensor(const at::Tensor & a, const at::Tensor & b) {
    return a.defined() == b.defined() && (!a.defined() || a.unsafeGetTensorImpl() == b.unsafeGetTensorImpl());
}

} // namespace snnkit
