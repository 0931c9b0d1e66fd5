// The neuron with its spikes handed to a sink (neuron_forward_to_sink) against the neuron that stores them
// (neuron_forward, neuron_forward_sum, neuron_forward_repeated): the spikes the sink received, put back in place,
// and the final potential bit-equal; every neuron of every step delivered once, in blocks of whole units of
// `align`; soft and hard reset, spikes of value V_th, per-channel V_th and per-neuron v0, sizes that leave partial
// blocks and units larger than the kernel's block; and the refusals.
#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron.h"
#include "core/intra_op_threads.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <limits>
#include <mutex>
#include <vector>

namespace {

using snnkit::neuron_options;
using snnkit::reset_mode;

// The sink's spikes gathered back into [T, M]; counts how often each neuron of each step came, and checks the units.
struct collected {
    at::Tensor spikes, seen;
    bool aligned = true;
};

collected run_sink(const at::Tensor & x, const at::Tensor & x_add, int64_t repeat, int64_t T, int64_t M,
                   const at::Tensor & vth, const at::Tensor & v0, const neuron_options & opt, int64_t align,
                   at::Tensor * v) {
    collected c;
    c.spikes = at::full({T, M}, -1.0f);
    c.seen = at::zeros({T, M}, at::kInt);
    float * sp = c.spikes.data_ptr<float>();
    int * seen = c.seen.data_ptr<int>();
    std::mutex mu;
    *v = snnkit::neuron_forward_to_sink(
        x, x_add, repeat, vth, v0, at::Tensor(), opt,
        [&](int64_t t, int64_t j0, const float * row, int64_t n) {
            std::lock_guard<std::mutex> lock(mu);
            c.aligned = c.aligned && j0 % align == 0 && (n % align == 0 || j0 + n == M);
            for (int64_t i = 0; i < n; ++i) {
                sp[t * M + j0 + i] = row[i];
                ++seen[t * M + j0 + i];
            }
        },
        align);
    return c;
}

} // namespace

TEST(neuron_sink, spikes_and_potential_equal_the_stored_forms_bit_for_bit) {
    at::NoGradGuard ng;
    at::manual_seed(3);
    const snnkit_test::intra_op_threads threads(2);
    for (const reset_mode reset : {reset_mode::soft, reset_mode::hard}) {
        for (const bool spike_vth : {false, true}) {
            // [T, N, C, S] sizes: a partial block; a unit (align) of 3 * 700 neurons above the kernel's 8192 block
            for (const auto & [N, C, S, align] : std::vector<std::array<int64_t, 4>>{{3, 5, 7, 1}, {4, 24, 700, 2100},
                                                                                    {2, 16, 300, 48}}) {
                const int64_t T = 6, M = N * C * S;
                neuron_options opt;
                opt.alpha = 0.9;
                opt.reset = reset;
                opt.spike_vth = spike_vth;
                const at::Tensor x = at::randn({T, N, C, S}) * 0.8 + 0.3;
                const at::Tensor x_add = at::randn({T, N, C, S}) * 0.5;
                const at::Tensor vth = at::rand({C}) + 0.5;
                const at::Tensor v0 = at::rand({N, C, S}) * 0.5;
                const auto where = [&] {
                    return ::testing::Message() << "reset " << static_cast<int>(reset) << " spike_vth " << spike_vth
                                                << " C " << C << " align " << align;
                };
                at::Tensor v;
                // plain
                collected c = run_sink(x, at::Tensor(), 0, T, M, vth, v0, opt, align, &v);
                snnkit::neuron_result want = snnkit::neuron_forward(x, vth, v0, opt);
                EXPECT_TRUE(at::equal(c.seen, at::ones_like(c.seen))) << where();
                EXPECT_TRUE(c.aligned) << where();
                EXPECT_TRUE(at::equal(c.spikes, want.spikes.reshape({T, M}))) << where();
                EXPECT_TRUE(at::equal(v, want.v)) << where();
                EXPECT_GT(want.spikes.count_nonzero().item<int64_t>(), 0) << where();
                // with a second input
                c = run_sink(x, x_add, 0, T, M, vth, v0, opt, align, &v);
                want = snnkit::neuron_forward_sum(x, x_add, vth, v0, at::Tensor(), opt);
                EXPECT_TRUE(at::equal(c.spikes, want.spikes.reshape({T, M}))) << where() << " (sum)";
                EXPECT_TRUE(at::equal(v, want.v)) << where() << " (sum)";
                // one step repeated
                c = run_sink(x[0], at::Tensor(), T, T, M, vth, v0, opt, align, &v);
                want = snnkit::neuron_forward_repeated(x[0], T, vth, v0, at::Tensor(), opt);
                EXPECT_TRUE(at::equal(c.seen, at::ones_like(c.seen))) << where() << " (repeated)";
                EXPECT_TRUE(at::equal(c.spikes, want.spikes.reshape({T, M}))) << where() << " (repeated)";
                EXPECT_TRUE(at::equal(v, want.v)) << where() << " (repeated)";
            }
        }
    }
}

TEST(neuron_sink, refusals) {
    at::NoGradGuard ng;
    const at::Tensor x = at::rand({4, 2, 8});
    const at::Tensor vth = at::scalar_tensor(1.0);
    const auto sink = [](int64_t, int64_t, const float *, int64_t) {};
    const neuron_options opt;
    EXPECT_THROW(snnkit::neuron_forward_to_sink(x, {}, 0, vth, {}, {}, opt, nullptr), snnkit::error);
    EXPECT_THROW(snnkit::neuron_forward_to_sink(x, {}, 0, vth, {}, {}, opt, sink, 0), snnkit::error);
    EXPECT_THROW(snnkit::neuron_forward_to_sink(x.to(at::kDouble), {}, 0, vth, {}, {}, opt, sink), snnkit::error);
    EXPECT_THROW(snnkit::neuron_forward_to_sink(x, at::rand({4, 2, 7}), 0, vth, {}, {}, opt, sink), snnkit::error);
    EXPECT_THROW(snnkit::neuron_forward_to_sink(x[0], x[0], 3, vth, {}, {}, opt, sink), snnkit::error);
    at::Tensor bad = x.clone();
    bad[2][1][3] = std::numeric_limits<float>::quiet_NaN();
    try {
        snnkit::neuron_forward_to_sink(bad, {}, 0, vth, {}, {}, opt, sink);
        ADD_FAILURE() << "a NaN input passed";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    }
}
