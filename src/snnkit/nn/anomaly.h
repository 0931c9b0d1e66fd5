// snnkit/nn/anomaly.h: locating where NaN / Inf first appear (training's numerical guards).
#pragma once

#include "snnkit/nn/graph.h"

#include <string>

namespace snnkit {

// Runs g on x (as an ANN when T == 0, else as an SNN over T steps, training behaviour as given) and
// returns the name of the first node, in execution order, whose output holds a NaN or Inf ("" if none;
// "input" when x itself does).
std::string first_nonfinite_node(const graph & g, const at::Tensor & x, int64_t T, bool train);

// The name ("node.param") of the first parameter whose gradient holds a NaN or Inf ("" if none).
std::string first_nonfinite_grad(const graph & g);

// The name ("node.tensor") of the first parameter or buffer that holds a NaN or Inf ("" if none).
std::string first_nonfinite_tensor(const graph & g);

} // namespace snnkit
