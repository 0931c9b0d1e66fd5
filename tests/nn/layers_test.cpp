// Each layer of the ANN executor against a direct, loop-based reference.
#include "snnkit/nn/forward.h"
#include "snnkit/core/error.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

using namespace snnkit;

namespace {

node make_node(op_kind op) {
    node n;
    n.name = "x";
    n.op = op;
    return n;
}

// Direct convolution: out[n,o,y,x] = b[o] + sum_{c in group, ky, kx} in[n, c, y*s - p + ky*d, x*s - p + kx*d] w[o, c', ky, kx]
at::Tensor conv_ref(const at::Tensor & in, const at::Tensor & w, const at::Tensor & b, int s, int p, int d, int groups) {
    const int64_t N = in.size(0), C = in.size(1), H = in.size(2), W = in.size(3);
    const int64_t O = w.size(0), KH = w.size(2), KW = w.size(3);
    const int64_t OH = (H + 2 * p - d * (KH - 1) - 1) / s + 1, OW = (W + 2 * p - d * (KW - 1) - 1) / s + 1;
    const int64_t cpg = C / groups, opg = O / groups;
    at::Tensor out = at::zeros({N, O, OH, OW}, at::kDouble);
    auto I = in.accessor<double, 4>();
    auto Wt = w.accessor<double, 4>();
    auto R = out.accessor<double, 4>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t y = 0; y < OH; ++y)
                for (int64_t x = 0; x < OW; ++x) {
                    double acc = b.defined() ? b[o].item<double>() : 0.0;
                    const int64_t g = o / opg;
                    for (int64_t c = 0; c < cpg; ++c)
                        for (int64_t ky = 0; ky < KH; ++ky)
                            for (int64_t kx = 0; kx < KW; ++kx) {
                                const int64_t iy = y * s - p + ky * d, ix = x * s - p + kx * d;
                                if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                                    acc += I[n][g * cpg + c][iy][ix] * Wt[o][c][ky][kx];
                                }
                            }
                    R[n][o][y][x] = acc;
                }
    return out;
}

at::Tensor pool_ref(const at::Tensor & in, int k, int s, int p, bool is_max) {
    const int64_t N = in.size(0), C = in.size(1), H = in.size(2), W = in.size(3);
    const int64_t OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
    at::Tensor out = at::zeros({N, C, OH, OW}, at::kDouble);
    auto I = in.accessor<double, 4>();
    auto R = out.accessor<double, 4>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t y = 0; y < OH; ++y)
                for (int64_t x = 0; x < OW; ++x) {
                    double acc = is_max ? -1e300 : 0.0;
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            const int64_t iy = y * s - p + ky, ix = x * s - p + kx;
                            const bool inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                            const double v = inside ? I[n][c][iy][ix] : 0.0; // avg counts padding (count_include_pad)
                            if (is_max) {
                                if (inside) acc = std::max(acc, v);
                            } else {
                                acc += v;
                            }
                        }
                    R[n][c][y][x] = is_max ? acc : acc / (k * k);
                }
    return out;
}

} // namespace

TEST(layers, conv2d_matches_direct_loops_with_stride_padding_dilation_groups) {
    at::manual_seed(1);
    struct cfg {
        int c, o, k, s, p, d, g;
    };
    for (const cfg & c : {cfg{3, 4, 3, 1, 1, 1, 1}, cfg{4, 6, 3, 2, 1, 1, 2}, cfg{2, 2, 5, 3, 2, 2, 1}, cfg{4, 4, 1, 1, 0, 1, 4}}) {
        node n = make_node(op_kind::conv2d);
        n.attrs.in = c.c;
        n.attrs.out = c.o;
        n.attrs.kernel = {c.k, c.k};
        n.attrs.stride = {c.s, c.s};
        n.attrs.padding = {c.p, c.p};
        n.attrs.dilation = {c.d, c.d};
        n.attrs.groups = c.g;
        n.params["weight"] = at::randn({c.o, c.c / c.g, c.k, c.k}, at::kDouble);
        n.params["bias"] = at::randn({c.o}, at::kDouble);
        const at::Tensor x = at::randn({2, c.c, 9, 7}, at::kDouble);
        const at::Tensor got = apply_op(n, {x}, false);
        const at::Tensor want = conv_ref(x, n.params["weight"], n.params["bias"], c.s, c.p, c.d, c.g);
        ASSERT_EQ(got.sizes(), want.sizes());
        EXPECT_TRUE(at::allclose(got, want, 1e-10, 1e-10)) << "k" << c.k << " s" << c.s << " g" << c.g;
    }
}

TEST(layers, linear_matches_sum_of_products) {
    at::manual_seed(2);
    node n = make_node(op_kind::linear);
    n.attrs.in = 5;
    n.attrs.out = 3;
    n.params["weight"] = at::randn({3, 5}, at::kDouble);
    n.params["bias"] = at::randn({3}, at::kDouble);
    const at::Tensor x = at::randn({4, 5}, at::kDouble);
    const at::Tensor got = apply_op(n, {x}, false);
    for (int i = 0; i < 4; ++i)
        for (int o = 0; o < 3; ++o) {
            double acc = n.params["bias"][o].item<double>();
            for (int k = 0; k < 5; ++k) acc += x[i][k].item<double>() * n.params["weight"][o][k].item<double>();
            EXPECT_NEAR(got[i][o].item<double>(), acc, 1e-12);
        }
}

TEST(layers, pools_match_direct_loops) {
    at::manual_seed(3);
    const at::Tensor x = at::randn({2, 3, 9, 8}, at::kDouble);
    for (bool is_max : {false, true}) {
        for (int p : {0, 1}) {
            node n = make_node(is_max ? op_kind::max_pool : op_kind::avg_pool);
            n.attrs.kernel = {3, 3};
            n.attrs.stride = {2, 2};
            n.attrs.padding = {p, p};
            EXPECT_TRUE(at::allclose(apply_op(n, {x}, false), pool_ref(x, 3, 2, p, is_max), 1e-12, 1e-12))
                << (is_max ? "max" : "avg") << " p" << p;
        }
    }
    node g = make_node(op_kind::global_avg_pool);
    const at::Tensor ga = apply_op(g, {x}, false);
    EXPECT_EQ(ga.sizes(), (std::vector<int64_t>{2, 3, 1, 1}));
    EXPECT_NEAR(ga[1][2][0][0].item<double>(), x[1][2].sum().item<double>() / 72.0, 1e-12);
}

TEST(layers, activations_flatten_add_dropout) {
    const at::Tensor x = at::tensor({-2.0, -0.5, 0.0, 0.7, 3.0}, at::kDouble).reshape({1, 5});
    node r = make_node(op_kind::relu);
    EXPECT_TRUE(at::equal(apply_op(r, {x}, false), at::tensor({0.0, 0.0, 0.0, 0.7, 3.0}, at::kDouble).reshape({1, 5})));
    node c = make_node(op_kind::clip_relu);
    c.attrs.clip = 1.0;
    EXPECT_TRUE(at::equal(apply_op(c, {x}, false), at::tensor({0.0, 0.0, 0.0, 0.7, 1.0}, at::kDouble).reshape({1, 5})));
    node f = make_node(op_kind::flatten);
    EXPECT_EQ(apply_op(f, {at::zeros({2, 3, 4, 5})}, false).sizes(), (std::vector<int64_t>{2, 60}));
    node a = make_node(op_kind::add);
    EXPECT_TRUE(at::equal(apply_op(a, {x, x, x}, false), x * 3));
    EXPECT_THROW(apply_op(a, {x, at::zeros({2, 5}, at::kDouble)}, false), snnkit::error);
    node d = make_node(op_kind::dropout);
    d.attrs.p = 0.5;
    const at::Tensor ones = at::ones({100000});
    EXPECT_TRUE(at::equal(apply_op(d, {ones}, false), ones)); // identity at inference
    const at::Tensor dr = apply_op(d, {ones}, true);
    const double kept = dr.ne(0).to(at::kDouble).mean().item<double>();
    EXPECT_NEAR(kept, 0.5, 0.01);
    EXPECT_TRUE(at::equal(dr.masked_select(dr.ne(0)), at::full({dr.ne(0).sum().item<int64_t>()}, 2.0f)));
}

TEST(layers, batch_norm_inference_and_training_statistics) {
    at::manual_seed(4);
    node n = make_node(op_kind::batch_norm);
    n.attrs.in = n.attrs.out = 3;
    n.params["weight"] = at::rand({3}, at::kDouble) + 0.5;
    n.params["bias"] = at::randn({3}, at::kDouble);
    n.buffers["running_mean"] = at::randn({3}, at::kDouble);
    n.buffers["running_var"] = at::rand({3}, at::kDouble) + 0.5;
    const at::Tensor x = at::randn({4, 3, 5, 5}, at::kDouble);
    const auto v = [](const at::Tensor & t) { return t.view({1, 3, 1, 1}); };
    const at::Tensor want = (x - v(n.buffers["running_mean"])) / at::sqrt(v(n.buffers["running_var"]) + 1e-5) *
                                v(n.params["weight"]) + v(n.params["bias"]);
    EXPECT_TRUE(at::allclose(apply_op(n, {x}, false), want, 1e-10, 1e-10));
    // Training: batch statistics, running stats move by momentum 0.1 towards the (unbiased) batch variance.
    const at::Tensor rm0 = n.buffers["running_mean"].clone();
    const at::Tensor out = apply_op(n, {x}, true);
    const at::Tensor mu = x.mean({0, 2, 3});
    const at::Tensor var = x.var({0, 2, 3}, false);
    const at::Tensor want_t = (x - v(mu)) / at::sqrt(v(var) + 1e-5) * v(n.params["weight"]) + v(n.params["bias"]);
    EXPECT_TRUE(at::allclose(out, want_t, 1e-9, 1e-9));
    EXPECT_TRUE(at::allclose(n.buffers["running_mean"], rm0 * 0.9 + mu * 0.1, 1e-12, 1e-12));
}

TEST(layers, conv_rejects_wrong_channel_count_with_layer_name) {
    node n = make_node(op_kind::conv2d);
    n.name = "conv7";
    n.attrs.in = 3;
    n.attrs.out = 2;
    n.attrs.kernel = {3, 3};
    n.params["weight"] = at::zeros({2, 3, 3, 3});
    try {
        apply_op(n, {at::zeros({1, 4, 8, 8})}, false);
        FAIL() << "no error";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("conv7"), std::string::npos) << e.what();
    }
}

// Dropout from a generator of its own draws the masks at::dropout draws from the global generator under the
// same seed (so the trainer's switch to its own generator kept every result), and leaves the global one alone.
TEST(layers, dropout_from_its_own_generator_draws_at_dropouts_masks) {
    const at::Tensor x = at::rand({64, 33});
    at::manual_seed(77);
    const at::Tensor ref = at::dropout(x, 0.3, true);
    const at::Tensor global_next = at::rand({4});
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(77);
    at::manual_seed(5);
    const at::Tensor mine = snnkit::dropout_inverted(x, 0.3, gen);
    EXPECT_TRUE(at::equal(mine, ref));
    at::manual_seed(5);
    const at::Tensor untouched = at::rand({4});
    at::manual_seed(5);
    snnkit::dropout_inverted(x, 0.3, gen);
    EXPECT_TRUE(at::equal(at::rand({4}), untouched));
    EXPECT_FALSE(at::equal(global_next, untouched));
}
