// tests/convert/convergence.h (internal to the tests): the check the conversion tests share: an ANN converted
// with the V_th/(2T) shift approaches the ANN as T grows.
#pragma once

#include "snnkit/convert/convert.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <functional>

namespace snnkit_test {

// Relative error of the SNN's output, averaged over T steps, against the ANN's output y.
inline double snn_rel_error(const snnkit::graph & snn, const at::Tensor & x, const at::Tensor & y, int64_t T) {
    snnkit::snn_options so;
    so.T = T;
    const at::Tensor out = snnkit::snn_forward(snn, x, so).out.mean(0);
    return ((out - y).norm() / y.norm()).item<double>();
}

// Records ann's activation statistics on data, converts it with the bias shift at T = 32, 256, 2048, and expects
// the relative error on data to fall with T and to end below 0.01; `check` sees each SNN before it runs.
inline void expect_snn_approaches_ann(snnkit::graph ann, const at::Tensor & data,
                                      const std::function<void(const snnkit::graph &)> & check = {}) {
    snnkit::record_activation_stats(ann, data);
    at::NoGradGuard ng;
    const at::Tensor y = snnkit::ann_forward(snnkit::ann_reference(ann), data);
    double prev = 1e9;
    for (int64_t T : {32, 256, 2048}) {
        snnkit::convert_options co;
        co.T = T;
        co.bias_shift = true;
        const snnkit::graph snn = snnkit::convert_to_snn(ann, co);
        if (check) {
            check(snn);
        }
        const double rel = snn_rel_error(snn, data, y, T);
        EXPECT_LT(rel, prev) << "T=" << T;
        prev = rel;
    }
    EXPECT_LT(prev, 0.01) << "relative error at T=2048";
}

} // namespace snnkit_test
