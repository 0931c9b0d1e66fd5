// Inference in groups of images (snn_chunk.h): the profile against its closed form, the rule, and a grouped run
// against the whole batch at once.
#include "snnkit/core/error.h"
#include "snnkit/nn/snn_chunk.h"
#include "snnkit/nn/snn_forward.h"
#include "core/intra_op_threads.h"
#include "nn/small_nets.h"

#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <thread>

using namespace snnkit;
using snnkit_test::conv_pool_net;

namespace {

// conv -> spike -> conv -> spike -> residual add -> spike -> gated max-pool -> conv -> spike -> fc: every kind of
// state a run hands back (potentials, the max-pool's gate and sums)
graph stateful_snn() {
    graph_builder b({3, 8, 8}, 4, 7);
    b.conv2d("c1", 3, 6, 3, 1, 1, true);
    const int r1 = b.relu("r1");
    b.conv2d("c2", 6, 6, 3, 1, 1, true);
    b.relu("r2");
    b.add("add", {b.last(), r1});
    b.relu("r3");
    const int mp = b.max_pool("mp", 2, 2);
    b.conv2d("c3", 6, 5, 3, 1, 1, true);
    b.relu("r4");
    b.flatten("flat");
    b.linear("fc", 5 * 4 * 4, 4);
    graph g = b.finish("custom");
    g.nodes[mp].attrs.gated = true;
    at::manual_seed(5);
    for (auto & n : g.nodes) {
        if (n.op == op_kind::relu) {
            n.op = op_kind::spike;
            n.buffers["v_th"] = at::rand({6}) * 0.3 + 0.3; // per channel (r4, 5 channels: below)
        }
    }
    g.nodes[g.find("r4")].buffers["v_th"] = at::full({}, 0.4);
    return g;
}

// got (a grouped run) against want (the whole batch at once): outputs, final potentials, max-pool states, up to
// the order of float sums.
void expect_same_run(const graph & g, const snn_output & got, const snn_output & want, int64_t per) {
    ASSERT_EQ(got.out.sizes(), want.out.sizes()) << per;
    EXPECT_TRUE(at::allclose(got.out, want.out, 1e-5, 1e-5)) << per;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        ASSERT_EQ(got.v[i].defined(), want.v[i].defined()) << i;
        if (want.v[i].defined()) {
            ASSERT_EQ(got.v[i].sizes(), want.v[i].sizes()) << g.nodes[i].name;
            EXPECT_TRUE(at::allclose(got.v[i], want.v[i], 1e-5, 1e-5)) << g.nodes[i].name << " " << per;
        }
    }
    ASSERT_EQ(got.pool_state.size(), 1u);
    const auto & a = got.pool_state.begin()->second;
    const auto & b = want.pool_state.begin()->second;
    EXPECT_TRUE(at::equal(a.gate, b.gate)) << per;
    EXPECT_TRUE(at::allclose(a.sum, b.sum, 1e-5, 1e-5)) << per;
}

} // namespace

// One sample at one step: every node's output (the input's 72 floats, c1's and r1's 288, the pool's and the
// flatten's 72, fc's 3), the largest (288), and the multiply-adds (c1: 288 outputs x 2*3*3, fc: 3 x 72).
TEST(snn_chunk, profile_is_the_closed_form) {
    const snn_profile p = snn_profile_of(conv_pool_net(2, 6, 8));
    EXPECT_EQ(p.largest_bytes, 288 * 4);
    EXPECT_EQ(p.activation_bytes, (72 + 288 + 288 + 72 + 72 + 3) * 4);
    EXPECT_EQ(p.macs, 288 * 18 + 3 * 72);
    const graph g = conv_pool_net(2, 6, 8);
    EXPECT_EQ(snn_profile_of(g).macs, p.macs); // remembered per graph: the same
}

TEST(snn_chunk, images_per_group) {
    snn_profile p;
    p.largest_bytes = 64 << 10; // 2 MiB over T = 32: 4 images in 8 MiB
    p.activation_bytes = 1 << 20;
    p.macs = 10 << 20; // 10 multiply-adds per byte: bound by memory traffic
    EXPECT_EQ(snn_chunk_images(p, 32, 16), 4);
    EXPECT_EQ(snn_chunk_images(p, 32, 10), 4);   // 4 + 4 + 2
    EXPECT_EQ(snn_chunk_images(p, 32, 3), 3);    // the whole batch fits
    EXPECT_EQ(snn_chunk_images(p, 8, 100), 15);  // 16 per group, evened out: 7 groups of 15 (the last 10)
    EXPECT_EQ(snn_chunk_images(p, 512, 16), 1);  // one image is already over the target: 1
    // groups side by side on w workers: each within 8 MiB / w, and one group per worker where the batch allows
    EXPECT_EQ(snn_chunk_images(p, 8, 16, 2), 8);   // 8 images in 4 MiB: 2 x 8
    EXPECT_EQ(snn_chunk_images(p, 8, 15, 2), 8);   // 8 + 7
    EXPECT_EQ(snn_chunk_images(p, 8, 12, 2), 6);   // all 12 would fit one group: one per worker
    EXPECT_EQ(snn_chunk_images(p, 32, 16, 2), 2);  // 2 images in 4 MiB
    EXPECT_EQ(snn_chunk_images(p, 8, 100, 2), 8);  // 13 groups of 8 (the last 4)
    EXPECT_EQ(snn_chunk_images(p, 8, 1, 2), 1);
    EXPECT_EQ(snn_chunk_images(p, 8, 16, 3), 4);   // 5 in 8 / 3 MiB, evened out: 4 x 4
    p.largest_bytes = 50 << 10;                  // 1.56 MiB over T = 32: 5 images fit, run as 4 x 4
    EXPECT_EQ(snn_chunk_images(p, 32, 16), 4);
    p.macs = static_cast<int64_t>(snn_chunk_max_intensity * static_cast<double>(p.activation_bytes)); // bound by compute
    EXPECT_EQ(snn_chunk_images(p, 32, 16), 16);
    EXPECT_EQ(snn_chunk_images(p, 32, 16, 2), 16); // compute-bound: the whole batch, whatever the workers
    EXPECT_THROW(snn_chunk_images(p, 0, 16), error);
    EXPECT_THROW(snn_chunk_images(p, 4, 0), error);
}

// A batch of 7 in groups of 3 (3 + 3 + 1) gives the outputs, final potentials and max-pool states of the whole
// batch at once, from an [N, ...] input and from a time-major one; the automatic choice too. A run with an
// observer is not grouped (the observer sees the whole batch) unless the observer accepts groups. Up to the order
// of float sums: oneDNN may sum a convolution of 3 images in another order than one of 7 (on an AMD EPYC the
// potentials differ by up to 2.2e-6; a group joined wrongly differs by whole values).
TEST(snn_chunk, grouped_run_equals_the_whole_batch) {
    const graph g = stateful_snn();
    at::NoGradGuard ng;
    at::manual_seed(9);
    const int64_t T = 5;
    const at::Tensor x = at::randn({7, 3, 8, 8}) + 0.5;
    const at::Tensor xt = at::randn({T, 7, 3, 8, 8}) + 0.5;
    for (const at::Tensor & in : {x, xt}) {
        snn_options whole;
        whole.T = T;
        whole.chunk = -1;
        const snn_output want = snn_forward(g, in, whole);
        EXPECT_GT(want.out.abs().sum().item<double>(), 0.0);
        ASSERT_EQ(want.pool_state.size(), 1u);
        for (const int64_t per : {3, 0}) {
            snn_options o = whole;
            o.chunk = per;
            expect_same_run(g, snn_forward(g, in, o), want, per);
        }
    }
    snn_options seen;
    seen.T = T;
    seen.chunk = 3;
    int64_t batch = 0;
    seen.observer = [&](int, const node &, const at::Tensor & out) { batch = std::max(batch, out.size(1)); };
    snn_forward(g, x, seen);
    EXPECT_EQ(batch, 7);
    // one that sums over batches may see the groups: every image once, in groups of at most 3
    seen.observe_in_groups = true;
    int64_t images = 0;
    batch = 0;
    seen.observer = [&](int i, const node &, const at::Tensor & out) {
        batch = std::max(batch, out.size(1));
        images += i == 0 ? out.size(1) : 0;
    };
    snn_forward(g, x, seen);
    EXPECT_EQ(batch, 3);
    EXPECT_EQ(images, 7);
}

// With 2 intra-op threads the groups run side by side (parallel_items.h), and still give the whole batch's
// outputs, potentials and max-pool states; an observer, which may not be called from two threads at once, is
// called from the caller's thread only (the groups then run one after another).
TEST(snn_chunk, groups_side_by_side_equal_the_whole_batch) {
    const graph g = stateful_snn();
    at::NoGradGuard ng;
    at::manual_seed(11);
    const int64_t T = 4;
    const at::Tensor x = at::randn({9, 3, 8, 8}) + 0.5;
    snn_options whole;
    whole.T = T;
    whole.chunk = -1;
    const snn_output want = snn_forward(g, x, whole);
    snnkit_test::intra_op_threads threads(2);
    for (const int64_t per : {2, 4, 0}) {
        snn_options o = whole;
        o.chunk = per;
        expect_same_run(g, snn_forward(g, x, o), want, per);
    }
    snn_options seen = whole;
    seen.chunk = 2;
    seen.observe_in_groups = true;
    const std::thread::id me = std::this_thread::get_id();
    int64_t calls = 0, elsewhere = 0, images = 0;
    seen.observer = [&](int i, const node &, const at::Tensor & out) { // not thread-safe on purpose
        ++calls;
        elsewhere += std::this_thread::get_id() == me ? 0 : 1;
        images += i == 0 ? out.size(1) : 0;
    };
    snn_forward(g, x, seen);
    EXPECT_GT(calls, 0);
    EXPECT_EQ(elsewhere, 0);
    EXPECT_EQ(images, 9);
}
