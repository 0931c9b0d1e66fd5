// Spikes packed while the neuron kernel makes them (spike_bits_packer.h) against the packings of the stored float
// spikes (spike_gather_pack, spike_gather_pool_pack): the same bytes and count, with the AVX-512 and the plain row
// functions; the unpacking against the float spikes; and the SNN executor, whose spike nodes read by one gathered
// convolution now run through the packer, against the same executor with those nodes held (so stored and packed
// afterwards): the same outputs and final potentials bit for bit, on converted ResNet-20 and VGG-16 nets (direct
// and pooled readers); with spike rates above the gathering crossover, the unpacked spikes give the dense executor's
// outputs bit for bit.
#include "snnkit/nn/spike_bits_packer.h"

#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron.h"
#include "snnkit/nn/snn_gather.h"
#include "snnkit/nn/spike_gather_pool.h"
#include "spike_conv_test_util.h"
#include "core/intra_op_threads.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

using namespace snnkit;

namespace {

// The spikes of a neuron on x [T, N, C, H, W] (channels-last data), by the stored path and by the packer.
struct both {
    at::Tensor spikes; // [T*N, C, H, W], channels-last strides
    spike_bits packed;
};

both neuron_both_ways(const at::Tensor & x_cl, const at::Tensor & vth, const spike_bits_layout & l, bool portable) {
    const int64_t T = l.T, N = l.N, C = l.C, H = l.H, W = l.W;
    const at::Tensor x = x_cl.permute({0, 1, 3, 4, 2}).reshape({T, N * H * W, C}); // the kernel's neurons
    neuron_options opt;
    opt.spike_vth = true;
    const neuron_result r = neuron_forward(x, vth, at::Tensor(), opt);
    both b;
    b.spikes = r.spikes.view({T * N, H, W, C}).permute({0, 3, 1, 2});
    spike_bits_packer packer(l, portable);
    neuron_forward_to_sink(
        x, at::Tensor(), 0, vth, at::Tensor(), at::Tensor(), opt,
        [&](int64_t t, int64_t j0, const float * row, int64_t n) { packer.take(t, j0, row, n); }, packer.align());
    b.packed = packer.finish();
    return b;
}

} // namespace

TEST(spike_bits_packer, equals_packing_the_stored_spikes_as_they_are_and_pooled) {
    at::NoGradGuard ng;
    at::manual_seed(11);
    const snnkit_test::intra_op_threads threads(2);
    // channels that do not fill a byte (5) or a 16-bit chunk (24), maps whose rows span several kernel blocks
    struct geo {
        int64_t N, C, H, W, pl, pr, kh, kw;
    };
    for (const geo & q : {geo{2, 5, 6, 7, 1, 1, 1, 1}, geo{3, 24, 8, 8, 1, 2, 2, 2}, geo{2, 64, 16, 16, 1, 1, 2, 2},
                          geo{2, 16, 6, 9, 0, 1, 3, 3}, geo{1, 130, 4, 6, 2, 0, 2, 1}, geo{2, 40, 12, 12, 1, 1, 1, 1}}) {
        for (const bool portable : {false, true}) {
            const int64_t T = 3;
            const at::Tensor x = (at::randn({T, q.N, q.C, q.H, q.W}) * 0.7 + 0.2);
            const at::Tensor vth = at::rand({q.C}) + 0.4;
            spike_bits_layout l;
            l.T = T;
            l.N = q.N;
            l.H = q.H;
            l.W = q.W;
            l.C = q.C;
            l.pad_left = q.pl;
            l.pad_right = q.pr;
            l.window = {q.kh, q.kw};
            const both b = neuron_both_ways(x, vth, l, portable);
            const bool pooled = q.kh * q.kw > 1;
            const spike_bits want = pooled ? spike_gather_pool_pack(b.spikes, l.window, q.pl, q.pr, portable)
                                           : spike_gather_pack(b.spikes, q.pl, q.pr, portable);
            const auto where = [&] {
                return ::testing::Message() << "C " << q.C << " " << q.H << "x" << q.W << " window " << q.kh << "x"
                                            << q.kw << " portable " << portable;
            };
            EXPECT_TRUE(at::equal(b.packed.bits, want.bits)) << where();
            EXPECT_EQ(b.packed.ones, want.ones) << where();
            EXPECT_EQ(b.packed.group, want.group) << where();
            EXPECT_EQ(b.packed.pad_left, want.pad_left) << where();
            EXPECT_GT(b.packed.ones, 0) << where();
            // unpacked: the float spikes (values V_th per channel)
            const at::Tensor back = spike_bits_unpack(b.packed, q.H, q.W, l.window, vth);
            EXPECT_TRUE(at::equal(back, b.spikes)) << where();
        }
    }
}

TEST(spike_bits_packer, refusals) {
    spike_bits_layout l;
    l.T = 2;
    l.N = 1;
    l.H = 5;
    l.W = 4;
    l.C = 8;
    l.window = {2, 2}; // does not tile 5 rows
    EXPECT_FALSE(spike_bits_packer_fits(l.H, l.W, l.window));
    EXPECT_THROW(spike_bits_packer p(l), snnkit::error);
    l.window = {1, 1};
    l.C = 0;
    EXPECT_THROW(spike_bits_packer p(l), snnkit::error);
    l.C = 8;
    spike_bits_packer p(l);
    const spike_bits b = p.finish();
    EXPECT_THROW(spike_bits_unpack(b, 5, 4, {1, 1}, at::ones({3})), snnkit::error); // 3 amplitudes for 8 channels
    EXPECT_THROW(spike_bits_unpack(b, 4, 4, {1, 1}, at::Tensor()), snnkit::error);  // not the packed map
}

// The executor: spike nodes with one gathered reader packed as they are made, against the same nodes held (stored,
// then packed by the reader): identical bits, so identical outputs and potentials.
TEST(spike_bits_packer, snn_executor_packs_spikes_as_made_and_equals_packing_them_after) {
    at::NoGradGuard ng;
    at::manual_seed(5);
    const snnkit_test::intra_op_threads threads(2);
    for (const char * arch : {"resnet20-he", "vgg16"}) {
        const at::Tensor x = at::randn({3, 3, 32, 32});
        const graph snn = snnkit_test::converted_zoo_net(arch, x, 6);
        snn_options o;
        o.T = 6;
        o.sparse = true;
        o.chunk = -1;
        // which spike nodes go packed, as the executor decides, on inputs of their shapes laid out channels last
        std::map<int, std::vector<int64_t>> shapes; // spike node -> its output [T, N, C, H, W]
        snn_options look = o;
        look.observer = [&](int i, const node & n, const at::Tensor & v) {
            if (n.op == op_kind::spike && v.dim() == 5) {
                shapes[i] = v.sizes().vec();
            }
        };
        snn_forward(snn, x, look);
        std::vector<int> uses = snn.consumer_counts(), sole(snn.nodes.size(), -1);
        for (size_t k = 0; k < snn.nodes.size(); ++k) {
            for (int j : snn.nodes[k].inputs) {
                sole[j] = uses[j] == 1 ? static_cast<int>(k) : -1;
            }
        }
        int direct = 0, pooled = 0;
        snn_options held = o;
        for (const auto & [i, s] : shapes) {
            held.hold.push_back(i);
            const at::Tensor xt = at::empty({s[0], s[1], s[3], s[4], s[2]}).permute({0, 1, 4, 2, 3});
            const snn_pack_plan plan =
                snn_spikes_go_packed(snn, i, sole, static_cast<int>(snn.nodes.size()) - 1, xt, o);
            direct += plan.conv >= 0 && plan.pool < 0;
            pooled += plan.pool >= 0;
        }
        EXPECT_GT(direct, 0) << arch << ": no spike node goes packed to its convolution";
        if (std::string(arch) == "vgg16") {
            EXPECT_GT(pooled, 0) << arch << ": no spike node goes packed through a pooling";
        }
        const snn_output a = snn_forward(snn, x, o);
        const snn_output b = snn_forward(snn, x, held); // every spike node held: stored, then packed by its reader
        EXPECT_TRUE(at::equal(a.out, b.out)) << arch;
        for (size_t i = 0; i < snn.nodes.size(); ++i) {
            if (a.v[i].defined() || b.v[i].defined()) {
                ASSERT_TRUE(a.v[i].defined() && b.v[i].defined()) << arch << " " << snn.nodes[i].name;
                EXPECT_TRUE(at::equal(a.v[i], b.v[i])) << arch << " " << snn.nodes[i].name;
            }
        }
    }
}

// Spikes packed as made for a convolution that then runs dense (rates above the gathering crossover: thresholds
// lowered): unpacked to the float spikes, they give the dense executor's outputs and potentials bit for bit.
TEST(spike_bits_packer, snn_executor_unpacks_for_a_dense_convolution) {
    at::NoGradGuard ng;
    at::manual_seed(9);
    const at::Tensor x = at::randn({2, 3, 32, 32});
    graph snn = snnkit_test::converted_zoo_net("vgg16", x, 4);
    for (node & n : snn.nodes) {
        if (n.op == op_kind::spike) {
            n.buffers.at("v_th").mul_(0.02); // nearly every neuron fires at nearly every step
        }
    }
    snn_options dense;
    dense.T = 4;
    dense.chunk = -1;
    snn_options sparse = dense;
    sparse.sparse = true;
    spike_gather_cache cache;
    sparse.gather_cache = &cache;
    const snn_output a = snn_forward(snn, x, dense);
    const snn_output b = snn_forward(snn, x, sparse);
    EXPECT_EQ(cache.preparations(), 0) << "a layer gathered: the rates are not above the crossover";
    EXPECT_TRUE(at::equal(a.out, b.out));
    for (size_t i = 0; i < snn.nodes.size(); ++i) {
        if (a.v[i].defined()) {
            EXPECT_TRUE(at::equal(a.v[i], b.v[i])) << snn.nodes[i].name;
        }
    }
}
