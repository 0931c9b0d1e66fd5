// Helpers of the spike convolution tests (spike_conv_bf16_test.cpp, spike_conv_int8_test.cpp, spike_gather_test.cpp).
#pragma once

#include "snnkit/convert/convert.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/spike_conv_bf16.h"
#include "snnkit/nn/zoo.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <string>

#define SKIP_UNLESS_AVAILABLE()                                                                                     \
    if (!spike_conv_bf16_available()) {                                                                               \
        GTEST_SKIP() << "AMX-BF16 spike convolutions unavailable here (built without libdnnl-dev, or no AMX-BF16)"; \
    }

namespace snnkit_test {

struct geom {
    int64_t c, o, h, w, kh, kw, s, p, d;
};

// The amplitude of spikes in the tests: 1 (undefined), a scalar V_th, or a V_th per channel.
inline at::Tensor amplitude_of(int kind, int64_t c) {
    return kind == 0 ? at::Tensor() : kind == 1 ? at::scalar_tensor(0.7314) : at::rand({c}) + 0.25;
}

// spikes s [N, C, H, W] (0 / 1) carrying amplitude amp
inline at::Tensor with_amplitude(const at::Tensor & s, const at::Tensor & amp) {
    return !amp.defined() ? s : amp.dim() == 0 ? s * amp : s * amp.view({1, -1, 1, 1});
}

// got, the AMX convolution of x, against a double-precision convolution: no larger an error than ATen's float
// convolution's (with a margin for the different order of the sums: `margin` times), or 2e-7 of the scale of the
// sums.
inline void expect_float_sum_error(const at::Tensor & got, const at::Tensor & x, const at::Tensor & w,
                                   const at::Tensor & b, std::array<int64_t, 2> st, std::array<int64_t, 2> pd,
                                   std::array<int64_t, 2> dl, double margin = 4) {
    const at::Tensor want =
        at::conv2d(x.to(at::kDouble), w.to(at::kDouble), b.defined() ? b.to(at::kDouble) : at::Tensor(), st, pd, dl);
    ASSERT_EQ(got.sizes(), want.sizes());
    const double scale = at::conv2d(x.abs().to(at::kDouble), w.abs().to(at::kDouble), {}, st, pd, dl).max().item<double>() + 1e-3;
    const double err = (got.to(at::kDouble) - want).abs().max().item<double>();
    const double err_f32 = (at::conv2d(x, w, b, st, pd, dl).to(at::kDouble) - want).abs().max().item<double>();
    EXPECT_LE(err, std::max(margin * err_f32, 2e-7 * scale)) << "float conv's error " << err_f32 << ", scale " << scale;
}

// A zoo network with random weights, BN statistics and activation maxima from batch x [N, 3, 32, 32], converted
// at T (thresholds from those maxima).
inline snnkit::graph converted_zoo_net(const std::string & arch, const at::Tensor & x, int64_t T) {
    snnkit::zoo_options zo;
    zo.arch = arch;
    zo.input_shape = {3, 32, 32};
    snnkit::graph ann = snnkit::zoo_build(zo);
    snnkit::forward_options fo;
    fo.train = true; // BN statistics from this batch
    snnkit::ann_forward(ann, x, fo);
    snnkit::record_activation_stats(ann, x);
    snnkit::convert_options co;
    co.T = T;
    return snnkit::convert_to_snn(ann, co);
}

// The fraction of images (dim 1 of [T, N, ...]) in which at least `share` of the values of a and b lie within tol.
inline double images_agreeing(const at::Tensor & a, const at::Tensor & b, double tol, double share) {
    const at::Tensor close = ((a - b).abs() <= tol).to(at::kDouble).transpose(0, 1).flatten(1).mean(1); // [N]
    return (close >= share).to(at::kDouble).mean().item<double>();
}

// The executor with AMX layers against the float executor, layer by layer, on a converted zoo net at T = 8 with
// its thresholds lowered so that every layer fires (checked): every convolution fed by spikes, straight or through
// an average pool, in every
// layout (ResNet-20: direct; VGG-16: direct, strips, dense, pooled inputs). int8: the int8 scheme.
inline void expect_executor_matches_the_float_executor(const std::string & arch, size_t min_layers, bool int8 = false) {
    using namespace snnkit;
    at::manual_seed(7);
    at::NoGradGuard ng;
    const at::Tensor x = at::randn({8, 3, 32, 32});
    graph snn = converted_zoo_net(arch, x, 8);
    for (node & n : snn.nodes) { // thresholds from a random net's maxima leave the deep layers silent: lower them
        if (n.op == op_kind::spike) {
            n.buffers.at("v_th").mul_(0.25);
        }
    }
    snn_options o;
    o.T = 8;
    // every AMX-eligible conv2d's output over time, from each executor
    std::map<int, at::Tensor> f32, amx;
    std::map<int, at::Tensor> * into = &f32;
    o.observer = [&](int i, const node & n, const at::Tensor & out) {
        if (n.op == op_kind::conv2d && spike_bf16_source(snn, n, nullptr) >= 0) {
            (*into)[i] = out.clone();
        }
    };
    const at::Tensor want = snn_forward(snn, x, o).out;
    into = &amx;
    o.spike_bf16 = true;
    o.spike_int8 = int8;
    const at::Tensor got = snn_forward(snn, x, o).out;
    ASSERT_EQ(got.sizes(), want.sizes());
    ASSERT_EQ(amx.size(), f32.size());
    ASSERT_GE(amx.size(), min_layers) << arch << ": convolutions fed by spikes";
    int differ = 0;
    for (const auto & [i, a] : amx) {
        const at::Tensor & f = f32.at(i);
        // the layer's input held spikes: its output is not its bias alone (the same value at every position)
        EXPECT_GT((f - f.select(-1, 0).select(-1, 0).unsqueeze(-1).unsqueeze(-1)).abs().max().item<double>(), 0.0)
            << arch << " " << snn.nodes[i].name << ": silent input";
        const double scale = f.abs().max().item<double>() + 1e-6;
        // a spike moved across the threshold by the other rounding changes the layers after it in that image (in
        // these random nets with lowered thresholds, often most of its later values): per layer, 75 % of the
        // images agree in 99 % of their values (a wrong AMX path fails every image)
        EXPECT_GE(images_agreeing(a, f, 1e-5 * scale, 0.99), 0.75) << arch << " " << snn.nodes[i].name;
        differ += !at::equal(a, f);
    }
    EXPECT_GT(differ, 0) << "every layer gave the float executor's bits exactly: did the AMX path run at all?";
    // the output [T, N, K], after every layer's threshold crossings have had their effect
    const double scale = want.abs().max().item<double>() + 1e-6;
    EXPECT_GE(images_agreeing(got, want, 1e-4 * scale, 0.95), 0.75) << arch;
}

} // namespace snnkit_test
