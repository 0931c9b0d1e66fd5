// snnkit/convert/clipfloor.cpp
#include "snnkit/convert/clipfloor.h"

namespace snnkit {

at::Tensor clipfloor(const at::Tensor & x, int64_t T, const at::Tensor & v_th, double shift) {
    const double t = static_cast<double>(T);
    return v_th / t * at::clamp(at::floor(x * t / v_th + shift), 0.0, t);
}

double clipfloor_error(const at::Tensor & x, int64_t T, double v_th, double shift) {
    const at::Tensor v = at::full({}, v_th, x.options());
    return (clipfloor(x, T, v, shift) - at::relu(x)).pow(2).sum().item<double>();
}

} // namespace snnkit
