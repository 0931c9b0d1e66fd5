// snnkit/nn/input_check.h: the checks a batch of input samples passes before a graph runs on it from an API
// (Python, convert_job): defined, on the CPU, float32, shaped [N, ...sample shape] (or time-major
// [T, N, ...]), finite. Each failure is one snnkit::error naming `where` and the problem.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace snnkit {

// Checks x against one sample's shape `sample` and returns it contiguous (a copy only when it was not).
// time_major: x may also be [T, N, ...sample] (direct encoding over T given steps).
at::Tensor check_input_batch(const at::Tensor & x, const std::vector<int64_t> & sample, const std::string & where,
                             bool time_major = false);

} // namespace snnkit
