// Conversion and calibration against the closed-form error model and the ANN itself.
#include "convergence.h"

#include "snnkit/convert/calib_steps.h"
#include "snnkit/convert/calibrate.h"
#include "snnkit/convert/clipfloor.h"
#include "snnkit/convert/convert.h"
#include "snnkit/core/error.h"
#include "snnkit/core/rng.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/model_io.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

using namespace snnkit;

namespace {

// input [F] -> linear (identity, bias 0) -> relu -> linear: the spiking layer sees x itself each step.
graph one_layer(int64_t f) {
    graph_builder b({f}, 2, 0);
    b.linear("fc1", f, f);
    b.relu("fc1.relu");
    b.linear("fc2", f, 2);
    graph g = b.finish("custom");
    g.nodes[1].params["weight"] = at::eye(f);
    g.nodes[1].params["bias"] = at::zeros({f});
    return g;
}

// Spike-count rate (in V_th units, as the ANN's) of the first spike node.
at::Tensor rate_of_first_spike(const graph & snn, const at::Tensor & x, int64_t T) {
    at::Tensor rate;
    snn_options so;
    so.T = T;
    so.observer = [&](int, const node & n, const at::Tensor & out) {
        if (n.op == op_kind::spike && !rate.defined()) {
            rate = out.mean(0);
        }
    };
    snn_forward(snn, x, so);
    return rate;
}

graph small_cnn(uint64_t seed) {
    graph_builder b({1, 8, 8}, 10, seed);
    b.conv2d("conv1", 1, 6, 3, 1, 1, true);
    b.batch_norm("conv1.bn", 6);
    b.relu("conv1.relu");
    b.avg_pool("pool1", 2, 2);
    b.conv2d("conv2", 6, 8, 3, 1, 1, true);
    b.relu("conv2.relu");
    b.flatten("flat");
    b.linear("fc1", 8 * 16, 32);
    b.relu("fc1.relu");
    b.linear("fc2", 32, 10);
    graph g = b.finish("custom");
    at::manual_seed(seed);
    node & bn = g.nodes[g.find("conv1.bn")];
    bn.buffers["running_mean"] = at::randn({6}) * 0.1;
    bn.buffers["running_var"] = at::rand({6}) + 0.5;
    bn.params["weight"] = at::rand({6}) + 0.5;
    return g;
}

// small_cnn(seed) with activation statistics on n random 8x8 images (seeded seed + 1), converted at T = 8.
struct small_cnn_case {
    graph ann;          // with activation statistics
    graph ref;          // ann_reference(ann)
    at::Tensor cal;     // the n images
    convert_options co; // T = 8
};

small_cnn_case make_small_cnn_case(uint64_t seed, int64_t n) {
    small_cnn_case c;
    c.ann = small_cnn(seed);
    at::manual_seed(seed + 1);
    c.cal = at::randn({n, 1, 8, 8});
    record_activation_stats(c.ann, c.cal);
    c.co.T = 8;
    c.ref = ann_reference(c.ann);
    return c;
}

} // namespace

TEST(convert, if_rate_equals_clipfloor_for_constant_input) {
    const int64_t f = 4000, T = 16;
    graph ann = one_layer(f);
    at::manual_seed(0);
    const at::Tensor x = (at::rand({1, f}) * 2.4 - 0.6); // below 0, inside, and above the threshold
    ann.nodes[2].buffers["act_max"] = at::full({}, 1.0f);
    for (bool shift : {false, true}) {
        convert_options co;
        co.T = T;
        co.bias_shift = shift;
        const graph snn = convert_to_snn(ann, co);
        const at::Tensor r = rate_of_first_spike(snn, x, T);
        const at::Tensor want = clipfloor(x, T, at::full({}, 1.0f), shift ? 0.5 : 0.0);
        // exact, except where T*x/V lies within float rounding of an integer boundary
        const at::Tensor z = x * T + (shift ? 0.5 : 0.0);
        const at::Tensor safe = (z - z.round()).abs() > 1e-4;
        EXPECT_TRUE(at::equal(r.masked_select(safe), want.masked_select(safe))) << "shift " << shift;
        EXPECT_GT(safe.sum().item<int64_t>(), f * 9 / 10);
        if (shift) { // the shift turns the floor into rounding: V/T * clip(round(T x / V), 0, T)
            const at::Tensor rounded = at::clamp(at::floor(x * T + 0.5), 0, T) / T;
            EXPECT_TRUE(at::equal(r.masked_select(safe), rounded.masked_select(safe)));
        }
    }
    // half-init (v0 = V/2) gives the same rounded rate as the bias shift
    convert_options hi;
    hi.T = T;
    hi.half_init = true;
    const at::Tensor rh = rate_of_first_spike(convert_to_snn(ann, hi), x, T);
    const at::Tensor z = x * T + 0.5;
    const at::Tensor safe = (z - z.round()).abs() > 1e-4;
    EXPECT_TRUE(at::equal(rh.masked_select(safe), clipfloor(x, T, at::full({}, 1.0f), 0.5).masked_select(safe)));
}

TEST(convert, snn_output_approaches_the_ann_as_T_grows) {
    at::manual_seed(2);
    const at::Tensor data = at::randn({64, 1, 8, 8});
    snnkit_test::expect_snn_approaches_ann(small_cnn(1), data);
}

TEST(calibrate, bc_and_pc_each_reduce_held_out_error_and_wc_reduces_layer_loss) {
    graph ann = small_cnn(3);
    at::manual_seed(4);
    const at::Tensor cal = at::randn({256, 1, 8, 8}), held = at::randn({256, 1, 8, 8});
    record_activation_stats(ann, cal);
    const graph ref = ann_reference(ann);
    convert_options co;
    co.T = 8;
    const graph base = convert_to_snn(ann, co);
    const auto total = [&](const graph & g) {
        double s = 0;
        for (const auto & e : layer_errors(g, ref, held, co.T, 128)) s += e.second;
        return s;
    };
    const double e0 = total(base);
    for (int which = 0; which < 3; ++which) {
        graph snn = base.clone();
        calib_options o;
        o.progress = false;
        o.bias_correction = which == 0;
        o.potential_correction = which == 1;
        o.weight_calibration = which == 2;
        o.wc_iters = 200;
        o.wc_lr = 1e-3;
        const calib_report rep = calibrate(snn, ref, cal, co, o);
        if (which < 2) {
            EXPECT_LT(total(snn), e0) << (which == 0 ? "BC" : "PC");
        } else {
            for (const auto & l : rep.layers) {
                EXPECT_LT(l.mse_after, l.mse_before) << "WC on " << l.name;
            }
        }
    }
    // The threshold search lowers the clip-floor error of every layer it touches.
    graph snn = base.clone();
    calib_options o;
    o.progress = false;
    o.threshold_search = true;
    calibrate(snn, ref, cal, co, o);
    EXPECT_LT(total(snn), e0);
}

// The grid is k * max(x) / N over ALL values, also when the error is measured on a subsample: a grid
// topped by the subsample's maximum (what the search once did) puts the threshold off these points.
TEST(calibrate, threshold_search_grid_tops_at_the_true_maximum) {
    const int64_t f = 16, T = 8;
    graph ann = one_layer(f);
    at::manual_seed(8);
    const at::Tensor cal = at::rand({4096, f}) * 2.0;
    record_activation_stats(ann, cal);
    const graph ref = ann_reference(ann);
    convert_options co;
    co.T = T;
    graph snn = convert_to_snn(ann, co);
    calib_options o;
    o.progress = false;
    o.threshold_search = true;
    o.search_values = 256; // of 65536 values: the subsample almost surely misses the maximum
    calibrate(snn, ref, cal, co, o);
    const double v = snn.nodes[snn.find("fc1.relu")].tensor("v_th").item<double>();
    const double top = cal.max().item<double>();
    const double k = v * static_cast<double>(o.grid) / top;
    EXPECT_NEAR(k, std::round(k), 1e-3) << "v_th " << v << " is not on the grid k * " << top << " / " << o.grid;
    EXPECT_GT(k, 0.5 * o.grid); // uniform data on [0, 2]: the best threshold lies well up the grid
}

// A channel that never fires (all its inputs below 0) has nothing to fit: the search keeps its converted
// threshold instead of the grid's first point over a 1e-8 "maximum"; the live channels are searched.
TEST(calibrate, threshold_search_keeps_a_dead_channels_threshold) {
    const int64_t f = 4, T = 8;
    graph ann = one_layer(f);
    at::manual_seed(9);
    at::Tensor cal = at::rand({512, f}) * 2.0;
    cal.select(1, 2).fill_(-1.0); // channel 2 is dead
    record_activation_stats(ann, cal);
    convert_options co;
    co.T = T;
    co.channel_wise = true;
    graph snn = convert_to_snn(ann, co);
    const at::Tensor before = snn.nodes[snn.find("fc1.relu")].tensor("v_th").clone();
    calib_options o;
    o.progress = false;
    o.threshold_search = true;
    calibrate(snn, ann_reference(ann), cal, co, o);
    const at::Tensor after = snn.nodes[snn.find("fc1.relu")].tensor("v_th");
    ASSERT_EQ(after.numel(), f);
    EXPECT_EQ(after[2].item<float>(), before[2].item<float>());
    EXPECT_GT(after[2].item<float>(), 1e-7);
    for (int64_t c : {0, 1, 3}) {
        EXPECT_GT(after[c].item<float>(), 0.5) << "channel " << c; // searched over uniform [0, 2] data
    }
}

// WC models the neuron's floor with the SNN's own bias. Under --bias-shift that bias already holds the
// half step, and under --half-init it is v(0). One identity layer with constant inputs in [0, V]: the
// shifted SNN rounds, so its error is the rounding error, (V/T)^2/12 per neuron, and its mean is zero. WC
// must keep it there (counting the half step twice made WC think every output was half a step too high:
// it pushed the biases down and the error toward the flooring error, (V/T)^2/3).
TEST(calibrate, wc_keeps_the_rounding_of_bias_shift_and_half_init) {
    const int64_t f = 16, T = 8;
    graph ann = one_layer(f);
    at::manual_seed(7);
    const at::Tensor cal = at::rand({512, f}) * 2.0;
    record_activation_stats(ann, cal);
    const graph ref = ann_reference(ann);
    for (int half : {0, 1}) {
        convert_options co;
        co.T = T;
        co.bias_shift = half == 0;
        co.half_init = half == 1;
        graph snn = convert_to_snn(ann, co);
        const double v = snn.nodes[snn.find("fc1.relu")].tensor("v_th").item<double>();
        calib_options o;
        o.progress = false;
        o.weight_calibration = true;
        o.wc_iters = 300;
        o.wc_lr = 1e-2;
        const calib_report rep = calibrate(snn, ref, cal, co, o);
        const double step2 = (v / T) * (v / T);
        const char * what = half ? "half-init" : "bias shift";
        EXPECT_LT(rep.layers[0].mse_before, step2 / 8) << what; // rounding: step^2 / 12
        EXPECT_LT(rep.layers[0].mse_after, step2 / 8) << what << ": before " << rep.layers[0].mse_before;
    }
}

TEST(convert, bias_shift_and_half_init_together_are_refused) {
    graph ann = small_cnn(3);
    record_activation_stats(ann, at::randn({16, 1, 8, 8}));
    convert_options co;
    co.T = 8;
    co.bias_shift = co.half_init = true;
    try {
        convert_to_snn(ann, co);
        FAIL() << "expected an error";
    } catch (const error & e) {
        EXPECT_NE(std::string(e.what()).find("--bias-shift --half-init"), std::string::npos) << e.what();
    }
}

TEST(calibrate, calibrated_state_survives_save_and_load) {
    graph ann = small_cnn(5);
    at::manual_seed(6);
    const at::Tensor cal = at::randn({128, 1, 8, 8});
    record_activation_stats(ann, cal);
    convert_options co;
    co.T = 4;
    co.bias_shift = true;
    graph snn = convert_to_snn(ann, co);
    calib_options o = calib_preset("advanced");
    o.bias_correction = true;
    o.progress = false;
    o.wc_iters = 20;
    calibrate(snn, ann_reference(ann), cal, co, o);
    const std::string dir = std::string(SNNKIT_BINARY_DIR) + "/tmp_convert/calibrated";
    std::filesystem::remove_all(dir);
    save_model(dir, snn);
    const graph back = load_model(dir);
    for (const char * name : {"conv1.relu", "conv2.relu", "fc1.relu"}) {
        const node & a = snn.nodes[snn.find(name)];
        const node & b = back.nodes[back.find(name)];
        EXPECT_TRUE(at::equal(a.buffers.at("v_th"), b.buffers.at("v_th"))) << name;
        ASSERT_TRUE(b.buffers.count("v0")) << name;
        EXPECT_TRUE(at::equal(a.buffers.at("v0"), b.buffers.at("v0"))) << name;
    }
    EXPECT_TRUE(at::equal(snn.nodes[snn.find("conv1")].params.at("bias"), back.nodes[back.find("conv1")].params.at("bias")));
    snn_options so;
    so.T = 4;
    at::NoGradGuard ng;
    EXPECT_TRUE(at::equal(snn_forward(snn, cal, so).out, snn_forward(back, cal, so).out));
}

// Calibration streams its passes over chunks of images: all 64 images in one chunk (what calibration once did
// all at once) and chunks of 3 give the same thresholds, biases, weights and initial potentials (the means
// are exact over all images; the threshold search sees every value when they are fewer than search_values).
TEST(calibrate, result_does_not_depend_on_the_simulation_batch) {
    const small_cnn_case c = make_small_cnn_case(7, 64);
    const graph & ref = c.ref;
    const at::Tensor & cal = c.cal;
    const convert_options & co = c.co;
    const graph base = convert_to_snn(c.ann, co);
    for (const char * preset : {"light", "advanced"}) {
        graph big = base.clone(), small = base.clone();
        calib_options o = calib_preset(preset);
        o.progress = false;
        o.wc_iters = 20;
        const calib_report rep = calibrate(big, ref, cal, co, o);
        if (std::string(preset) == "light") { // each layer's error after its step, from the calibration's own
            // streamed passes, equals an independent whole-network measurement on the final SNN
            const auto errs = layer_errors(big, ref, cal, co.T, 128);
            ASSERT_EQ(errs.size(), rep.layers.size());
            for (size_t k = 0; k < errs.size(); ++k) {
                EXPECT_NEAR(rep.layers[k].mse_after, errs[k].second, 1e-6 * errs[k].second + 1e-9) << errs[k].first;
            }
        }
        EXPECT_EQ(rep.chunk_images, 64);
        o.batch_size = 3;
        EXPECT_EQ(calibrate(small, ref, cal, co, o).chunk_images, 3);
        for (size_t i = 0; i < big.nodes.size(); ++i) {
            const node & a = big.nodes[i];
            const node & b = small.nodes[i];
            for (const auto * pair : {&a.params, &a.buffers}) {
                for (const auto & kv : *pair) {
                    const at::Tensor other = b.tensor(kv.first);
                    ASSERT_TRUE(other.defined()) << preset << " " << a.name << "." << kv.first;
                    EXPECT_TRUE(at::allclose(kv.second, other, 1e-5, 1e-6)) << preset << " " << a.name << "." << kv.first;
                }
            }
        }
    }
}

// With fewer values allowed than a layer has (the search samples), the search's sample is the all-at-once search's
// seeded draw, filled chunk by chunk: chunks of 64, 5 and 3 images give the same thresholds, equal to
// calib_threshold_search on each layer's whole pre-activation with one generator seeded as calibration seeds it.
TEST(calibrate, the_threshold_searchs_sample_does_not_depend_on_the_chunking) {
    const small_cnn_case c = make_small_cnn_case(11, 64);
    const graph base = convert_to_snn(c.ann, c.co);
    calib_options o;
    o.progress = false;
    o.threshold_search = true;
    o.search_values = 700; // fewer than every layer's values over 64 images
    std::vector<int> spikes, pre;
    for (size_t i = 0; i < base.nodes.size(); ++i) {
        if (base.nodes[i].op == op_kind::spike) {
            spikes.push_back(static_cast<int>(i));
            pre.push_back(c.ref.nodes[c.ref.find(base.nodes[i].name)].inputs[0]);
        }
    }
    ASSERT_GE(spikes.size(), 2U);
    std::map<int, at::Tensor> vals; // every pre-activation over all 64 images, from the plain ANN executor
    forward_options fo;
    fo.observer = [&](int index, const node &, const at::Tensor & out) { vals[index] = out.contiguous(); };
    {
        at::NoGradGuard ng;
        ann_forward(c.ref, c.cal, fo);
    }
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(o.seed, 0xca1));
    std::vector<at::Tensor> want;
    for (size_t k = 0; k < spikes.size(); ++k) {
        threshold_search_options so;
        so.grid = o.grid;
        so.max_values = o.search_values;
        so.shift = convert_shift(c.co);
        ASSERT_GT(vals.at(pre[k]).numel() / std::max<int64_t>(1, base.nodes[spikes[k]].tensor("v_th").numel()), o.search_values);
        want.push_back(calib_threshold_search(vals.at(pre[k]), base.nodes[spikes[k]].tensor("v_th"), c.co.T, so, gen));
    }
    for (const int64_t chunk : {64, 5, 3}) {
        graph snn = base.clone();
        o.batch_size = chunk;
        EXPECT_EQ(calibrate(snn, c.ref, c.cal, c.co, o).chunk_images, chunk);
        for (size_t k = 0; k < spikes.size(); ++k) {
            const at::Tensor got = snn.nodes[spikes[k]].tensor("v_th");
            EXPECT_TRUE(at::allclose(got, want[k], 1e-6, 0.0))
                << "chunks of " << chunk << ", " << base.nodes[spikes[k]].name << ": " << got << " against " << want[k];
        }
    }
}

// A budget too small for WC's inputs of every image: WC fits on a seeded sample that fits in budget / 16, and
// the SNN passes stream in chunks whose activation over T stays within budget / 8; the result still lowers
// every layer's error.
TEST(calibrate, a_small_memory_budget_bounds_the_chunks_and_wc_sample) {
    const small_cnn_case c = make_small_cnn_case(9, 200);
    const graph & ref = c.ref;
    const at::Tensor & cal = c.cal;
    const convert_options & co = c.co;
    graph snn = convert_to_snn(c.ann, co);
    calib_options o = calib_preset("advanced");
    o.progress = false;
    o.wc_iters = 100;
    o.wc_lr = 1e-3;
    o.memory_budget = 8 * (6 * 8 * 8 * 4 * co.T * 5); // conv1's output over T: 5 images per chunk
    const calib_report rep = calibrate(snn, ref, cal, co, o);
    EXPECT_EQ(rep.chunk_images, 5);
    EXPECT_GT(rep.wc_images, 0);
    EXPECT_LT(rep.wc_images, 200); // conv1: (64 + 6 * 64) floats = 1,792 bytes per image, 17 fit in budget / 16
    for (const auto & l : rep.layers) {
        EXPECT_LT(l.mse_after, l.mse_before) << l.name;
    }
}
