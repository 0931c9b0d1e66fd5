// Spiking max-pool (Rueckauer et al. 2017 gate): against a naive loop over windows, the exact count
// invariant, the closed-form rate limit (max of the input rates, error <= 1/T), state continuation, errors,
// and the executor running it for a converted max-pool.
#include "snnkit/core/error.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/spike_max_pool.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <vector>

using namespace snnkit;

namespace {

// The gate written out per output neuron with plain loops: accumulate, find the first largest sum of the
// window (padding excluded), keep the previous pick unless its sum is strictly below, pass its input.
at::Tensor naive_gated_pool(const at::Tensor & x, const spike_max_pool_options & o) {
    const at::Tensor xd = x.to(at::kDouble).contiguous();
    const int64_t T = x.size(0), N = x.size(1), C = x.size(2), H = x.size(3), W = x.size(4);
    const int64_t Ho = (H + 2 * o.padding[0] - o.kernel[0]) / o.stride[0] + 1;
    const int64_t Wo = (W + 2 * o.padding[1] - o.kernel[1]) / o.stride[1] + 1;
    auto a = xd.accessor<double, 5>();
    at::Tensor out = at::zeros({T, N, C, Ho, Wo}, at::kDouble);
    auto r = out.accessor<double, 5>();
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t c = 0; c < C; ++c) {
            std::vector<double> sum(static_cast<size_t>(H * W), 0.0);
            std::vector<int64_t> gate(static_cast<size_t>(Ho * Wo), -1);
            for (int64_t t = 0; t < T; ++t) {
                for (int64_t h = 0; h < H; ++h) {
                    for (int64_t w = 0; w < W; ++w) {
                        sum[h * W + w] += a[t][n][c][h][w];
                    }
                }
                for (int64_t oh = 0; oh < Ho; ++oh) {
                    for (int64_t ow = 0; ow < Wo; ++ow) {
                        int64_t best = -1;
                        for (int64_t kh = 0; kh < o.kernel[0]; ++kh) {
                            for (int64_t kw = 0; kw < o.kernel[1]; ++kw) {
                                const int64_t h = oh * o.stride[0] - o.padding[0] + kh;
                                const int64_t w = ow * o.stride[1] - o.padding[1] + kw;
                                if (h < 0 || h >= H || w < 0 || w >= W) {
                                    continue;
                                }
                                if (best < 0 || sum[h * W + w] > sum[best]) {
                                    best = h * W + w;
                                }
                            }
                        }
                        int64_t & g = gate[oh * Wo + ow];
                        if (g < 0 || sum[g] < sum[best]) {
                            g = best;
                        }
                        r[t][n][c][oh][ow] = a[t][n][c][g / W][g % W];
                    }
                }
            }
        }
    }
    return out;
}

// Spikes of amplitude amp[c] per channel, each input neuron firing with probability p_in (random, seeded).
at::Tensor random_spikes(std::vector<int64_t> shape, double p_in, uint64_t seed) {
    at::manual_seed(seed);
    const at::Tensor p = at::rand({shape[1], shape[2], shape[3], shape[4]}) * p_in; // a rate per input neuron
    const at::Tensor amp = at::rand({1, 1, shape[2], 1, 1}) + 0.5;
    return at::bernoulli(p.unsqueeze(0).expand(shape).contiguous()) * amp;
}

spike_max_pool_options pool(int64_t k, int64_t s, int64_t p) {
    spike_max_pool_options o;
    o.kernel = {k, k};
    o.stride = {s, s};
    o.padding = {p, p};
    return o;
}

// Closed-form IF spike trains for constant rates r = k / D (integers): count(t) = floor(t k / D), exactly
// what an IF neuron (V_th = 1, v(0) = 0, soft reset) fires for a constant input r, without rounding.
at::Tensor if_trains(const at::Tensor & k, int64_t D, int64_t T) {
    const at::Tensor t = at::arange(T + 1, at::kLong).reshape({T + 1, 1, 1, 1, 1});
    const at::Tensor count = at::div(t * k.unsqueeze(0), D, "floor");
    return (count.slice(0, 1) - count.slice(0, 0, T)).to(at::kFloat);
}

} // namespace

TEST(spike_max_pool, matches_a_naive_loop_over_windows) {
    at::NoGradGuard ng;
    for (const auto & o : {pool(3, 2, 1), pool(2, 2, 0), pool(3, 1, 1)}) {
        for (double p_in : {0.3, 0.9}) {
            const at::Tensor x = random_spikes({12, 2, 3, 7, 6}, p_in, 11);
            const at::Tensor got = spike_max_pool(x, o).out.to(at::kDouble);
            const at::Tensor want = naive_gated_pool(x, o);
            ASSERT_EQ(got.sizes(), want.sizes());
            EXPECT_TRUE(at::equal(got, want)) << "kernel " << o.kernel[0] << " stride " << o.stride[0] << " p " << p_in;
        }
    }
    // analog non-negative inputs follow the same rule
    at::manual_seed(2);
    const at::Tensor xa = at::rand({9, 1, 2, 5, 5});
    EXPECT_TRUE(at::allclose(spike_max_pool(xa, pool(3, 2, 1)).out.to(at::kDouble), naive_gated_pool(xa, pool(3, 2, 1))));
}

// For spikes of one amplitude per window the output's accumulated sum equals the window's largest
// accumulated input at every step (the gate moves only to an input that just spiked past the leader).
// Inputs that draw level in turn are the case a gate switching on ties (or a max per step) gets wrong.
TEST(spike_max_pool, output_count_equals_the_largest_input_count_at_every_step) {
    at::NoGradGuard ng;
    const int64_t T = 16;
    // one window of two inputs: the second fires at even steps, the first at odd steps (ties after each odd step)
    at::Tensor alt = at::zeros({T, 1, 1, 1, 2});
    for (int64_t t = 0; t < T; ++t) {
        alt[t][0][0][0][t % 2 == 0 ? 1 : 0] = 1.0;
    }
    const spike_max_pool_options o2 = {{1, 2}, {1, 2}, {0, 0}};
    const at::Tensor out_alt = spike_max_pool(alt, o2).out;
    EXPECT_DOUBLE_EQ(out_alt.sum().item<double>(), T / 2.0) << out_alt.flatten();
    for (const auto & o : {pool(3, 2, 1), pool(2, 2, 0)}) {
        const at::Tensor x = random_spikes({40, 3, 4, 8, 8}, 0.7, 5);
        const at::Tensor out = spike_max_pool(x, o).out;
        const at::Tensor want = at::max_pool2d(x.cumsum(0).flatten(0, 1), o.kernel, o.stride, o.padding);
        EXPECT_TRUE(at::allclose(out.cumsum(0).flatten(0, 1), want, 1e-5, 1e-5));
    }
}

// Constant input rates r (IF trains): the output rate is max(floor(T r)) / T, so it approaches the ANN's
// max-pool of r with error below 1/T; and it is at most max r.
TEST(spike_max_pool, output_rate_approaches_the_max_of_the_input_rates_within_one_over_T) {
    at::NoGradGuard ng;
    const int64_t D = 997;
    at::manual_seed(9);
    const at::Tensor k = at::randint(0, D + 1, {2, 3, 6, 6}, at::kLong);
    const at::Tensor r = k.to(at::kDouble) / static_cast<double>(D);
    const spike_max_pool_options o = pool(3, 2, 1);
    const at::Tensor ann = at::max_pool2d(r, o.kernel, o.stride, o.padding);
    double last = 1;
    for (int64_t T : {4, 16, 64, 256, 1024}) {
        const at::Tensor rate = spike_max_pool(if_trains(k, D, T), o).out.to(at::kDouble).mean(0);
        const double err = (ann - rate).abs().max().item<double>();
        EXPECT_LT(err, 1.0 / static_cast<double>(T)) << "T=" << T;
        EXPECT_TRUE((rate <= ann + 1e-12).all().item<bool>()) << "T=" << T;
        last = err;
    }
    EXPECT_LT(last, 1e-3);
}

TEST(spike_max_pool, state_carries_a_run_over_to_the_next) {
    at::NoGradGuard ng;
    const at::Tensor x = random_spikes({20, 2, 2, 6, 6}, 0.6, 3);
    const spike_max_pool_options o = pool(3, 2, 1);
    const spike_max_pool_result whole = spike_max_pool(x, o);
    const spike_max_pool_result a = spike_max_pool(x.slice(0, 0, 7), o);
    const spike_max_pool_result b = spike_max_pool(x.slice(0, 7), o, a.state);
    EXPECT_TRUE(at::equal(at::cat({a.out, b.out}), whole.out));
    EXPECT_TRUE(at::equal(b.state.gate, whole.state.gate));
    EXPECT_TRUE(at::allclose(b.state.sum, whole.state.sum));
    EXPECT_TRUE(at::allclose(whole.state.sum, x.sum(0)));
}

TEST(spike_max_pool, bad_input_and_state_are_refused) {
    const spike_max_pool_options o = pool(2, 2, 0);
    EXPECT_THROW(spike_max_pool(at::zeros({2, 3, 4, 4}), o), error); // no time axis
    spike_max_pool_state s;
    s.sum = at::zeros({1, 3, 5, 4});
    EXPECT_THROW(spike_max_pool(at::zeros({2, 1, 3, 4, 4}), o, s), error);
    s.sum = at::zeros({1, 3, 4, 4});
    s.gate = at::zeros({1, 3, 3, 2}, at::kLong);
    EXPECT_THROW(spike_max_pool(at::zeros({2, 1, 3, 4, 4}), o, s), error);
    EXPECT_THROW(spike_max_pool(at::zeros({2, 1, 3, 1, 1}), pool(3, 1, 0)), error); // window larger than input
}

// The executor runs a converted (gated) max-pool on spikes with the gate, and hands its state out and in.
TEST(spike_max_pool, executor_gates_a_converted_max_pool_and_carries_its_state) {
    at::NoGradGuard ng;
    graph_builder b({2, 6, 6}, 4, 0);
    b.max_pool("mp", 3, 2, 1);
    b.flatten("f");
    graph g = b.finish("custom");
    g.nodes[1].attrs.gated = true;
    const at::Tensor x = random_spikes({10, 3, 2, 6, 6}, 0.5, 8);
    snn_options so;
    so.T = 10;
    const snn_output r = snn_forward(g, x, so);
    const at::Tensor want = spike_max_pool(x, pool(3, 2, 1)).out.flatten(2);
    EXPECT_TRUE(at::equal(r.out, want));
    ASSERT_EQ(r.pool_state.count(1), 1u);
    // continuing from the state of the first 4 steps gives the last 6 steps of the whole run
    so.T = 4;
    const snn_output first = snn_forward(g, x.slice(0, 0, 4), so);
    so.T = 6;
    so.pool_init = &first.pool_state;
    const snn_output rest = snn_forward(g, x.slice(0, 4), so);
    EXPECT_TRUE(at::equal(rest.out, want.slice(0, 4)));
    // an ungated max-pool (a directly trained SNN's) stays a max per step
    g.nodes[1].attrs.gated = false;
    so.T = 10;
    so.pool_init = nullptr;
    EXPECT_TRUE(at::equal(snn_forward(g, x, so).out, at::max_pool2d(x.flatten(0, 1), {3, 3}, {2, 2}, {1, 1}).reshape({10, 3, -1})));
}
