// NIR export -> import: the re-imported SNN must produce identical spikes at every spiking layer and the
// same output; the file layout must be what the `nir` package reads; unsupported input gives clear errors.
#include "snnkit/convert/convert.h"
#include "snnkit/core/error.h"
#include "snnkit/interop/h5_io.h"
#include "snnkit/interop/h5_read.h"
#include "snnkit/interop/nir_io.h"
#include "snnkit/interop/onnx_import.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/bn_fold.h"
#include "snnkit/nn/graph.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <unistd.h>

using namespace snnkit;

namespace {

std::string fixture(const std::string & name) { return std::string(SNNKIT_SOURCE_DIR) + "/tests/interop/fixtures/" + name; }

// A per-process scratch directory, removed when the test program exits.
struct scratch_dir {
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("snnkit_nir_test_" + std::to_string(::getpid()));
    ~scratch_dir() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

std::string tmp_path(const std::string & name) {
    static scratch_dir scratch;
    std::filesystem::create_directories(scratch.dir);
    return (scratch.dir / name).string();
}

// An SNN converted from an imported ONNX model (statistics on seeded random inputs).
graph converted(const std::string & onnx, const convert_options & opt) {
    graph ann = import_onnx(fixture(onnx));
    at::manual_seed(3);
    record_activation_stats(ann, at::randn({64, 1, 28, 28}));
    return convert_to_snn(ann, opt);
}

struct run_result {
    std::map<std::string, at::Tensor> spikes; // spiking layer name -> [T, N, ...]
    at::Tensor out;
};

run_result run(const graph & g, const at::Tensor & x, int64_t T) {
    at::NoGradGuard ng;
    run_result r;
    snn_options so;
    so.T = T;
    so.observer = [&](int, const node & n, const at::Tensor & out) {
        if (n.op == op_kind::spike) {
            r.spikes[n.name] = out.clone();
        }
    };
    r.out = snn_forward(g, x, so).out;
    return r;
}

void expect_identical(const graph & a, const graph & b, int64_t T, int min_spiking, at::Tensor x = {}) {
    at::manual_seed(11);
    if (!x.defined()) {
        x = at::randn({4, 1, 28, 28});
    }
    const run_result ra = run(a, x, T), rb = run(b, x, T);
    ASSERT_EQ(ra.spikes.size(), rb.spikes.size());
    EXPECT_GE(static_cast<int>(ra.spikes.size()), min_spiking);
    double total = 0;
    for (const auto & kv : ra.spikes) {
        ASSERT_TRUE(rb.spikes.count(kv.first)) << kv.first;
        EXPECT_TRUE(kv.second.equal(rb.spikes.at(kv.first))) << "spikes differ at " << kv.first;
        total += kv.second.ne(0).sum().item<double>();
    }
    EXPECT_GT(total, 0) << "no spikes at all: the comparison would be vacuous";
    EXPECT_TRUE(ra.out.equal(rb.out));
    std::printf("%zu spiking layers, %.0f spikes, identical after the NIR round trip\n", ra.spikes.size(), total);
}

void expect_same_structure(const graph & a, const graph & b) {
    ASSERT_EQ(a.nodes.size(), b.nodes.size());
    for (size_t i = 0; i < a.nodes.size(); ++i) {
        EXPECT_EQ(a.nodes[i].name, b.nodes[i].name);
        EXPECT_EQ(a.nodes[i].op, b.nodes[i].op) << a.nodes[i].name;
        EXPECT_EQ(a.nodes[i].inputs, b.nodes[i].inputs) << a.nodes[i].name;
    }
    EXPECT_EQ(a.input_shape, b.input_shape);
    EXPECT_EQ(a.num_classes, b.num_classes);
}

// A hand-made NIR graph: /node with its type and metadata, and Input / Output nodes of shape [f]; the
// caller adds the other nodes, the edges and the graph metadata, then saves.
h5_file nir_skeleton(int64_t f) {
    h5_file h = h5_file::create();
    h.group("/node");
    h.write_string("/node/type", "NIRGraph");
    h.group("/node/metadata");
    h.group("/node/nodes");
    for (const char * n : {"input", "output"}) {
        const std::string p = std::string("/node/nodes/") + n;
        h.group(p);
        h.write_string(p + "/type", n == std::string("input") ? "Input" : "Output");
        h.write_ints(p + "/shape", {f});
        h.group(p + "/metadata");
    }
    return h;
}

// import_nir's snnkit::error message for the file, or "no error".
std::string import_error(const std::string & path) {
    try {
        import_nir(path);
    } catch (const snnkit::error & e) {
        return std::string(e.what());
    }
    return std::string("no error");
}

} // namespace

TEST(Nir, ResNetRoundTripGivesIdenticalSpikes) {
    convert_options opt;
    opt.T = 8;
    opt.channel_wise = true;
    opt.half_init = true; // per-neuron v(0): NIR has none, snnkit's metadata carries it
    const graph snn = converted("resnet_op17.onnx", opt);
    const std::string path = tmp_path("resnet.nir");
    model_meta written;
    written.kind = "snn-converted";
    written.dataset = "fmnist";
    written.extra = R"({"note":"x"})";
    export_nir(path, snn, written);
    model_meta meta;
    const graph back = import_nir(path, &meta);
    EXPECT_EQ(model_meta_to_json(meta), R"({"dataset":"fmnist","kind":"snn-converted","note":"x"})");
    expect_same_structure(snn, back);
    for (size_t i = 0; i < snn.nodes.size(); ++i) {
        for (const auto & kv : snn.nodes[i].buffers) {
            ASSERT_TRUE(back.nodes[i].buffers.count(kv.first)) << snn.nodes[i].name << "." << kv.first;
            EXPECT_TRUE(kv.second.equal(back.nodes[i].buffers.at(kv.first))) << snn.nodes[i].name << "." << kv.first;
        }
    }
    expect_identical(snn, back, 8, 5);
}

// A graph whose last node is an add (two heads summed): NIR writes it as two edges into the Output, which NIR
// sums; the import makes the add again, under its name and at its place.
TEST(Nir, OutputThatSumsTwoHeadsRoundTrips) {
    graph_builder b({6}, 3, 2);
    b.linear("fc1", 6, 6);
    const int r = b.relu("fc1.relu");
    const int h1 = b.linear("head1", 6, 3, true, r);
    const int h2 = b.linear("head2", 6, 3, true, r);
    b.add("sum", {h1, h2});
    graph ann = b.finish("custom");
    at::manual_seed(6);
    record_activation_stats(ann, at::randn({64, 6}));
    convert_options opt;
    opt.T = 8;
    const graph snn = convert_to_snn(ann, opt);
    const std::string path = tmp_path("two_heads.nir");
    export_nir(path, snn);
    const graph back = import_nir(path);
    expect_same_structure(snn, back);
    EXPECT_EQ(back.nodes.back().name, "sum");
    const at::Tensor x = at::randn({5, 6}) * 2;
    const run_result ra = run(snn, x, 8), rb = run(back, x, 8);
    EXPECT_GT(ra.spikes.at("fc1.relu").sum().item<float>(), 0);
    EXPECT_TRUE(ra.out.equal(rb.out));
}

TEST(Nir, VggWithBatchNormFoldedRoundTrip) {
    convert_options opt;
    opt.T = 6;
    const graph snn = converted("vgg_bn_op13.onnx", opt); // conversion folds BN
    const std::string path = tmp_path("vgg.nir");
    export_nir(path, snn);
    expect_identical(snn, import_nir(path), 6, 5);
}

TEST(Nir, LifHardResetUnitSpikesAndUnfoldedBatchNorm) {
    // A directly-trained-style SNN: BN still in the graph (export folds it), LIF with hard reset, 0/1 spikes.
    graph ann = import_onnx(fixture("vgg_bn_op13.onnx"));
    at::manual_seed(5);
    record_activation_stats(ann, at::randn({32, 1, 28, 28}));
    graph snn = ann.clone();
    for (auto & n : snn.nodes) {
        if (n.op == op_kind::relu) {
            n.op = op_kind::spike;
            n.attrs.neuron.alpha = 0.75;
            n.attrs.neuron.reset = reset_mode::hard;
            n.attrs.neuron.spike_vth = false;
            n.buffers = {{"v_th", at::full({}, 0.5)}};
        }
    }
    const std::string path = tmp_path("lif.nir");
    export_nir(path, snn);
    // The file holds LIF nodes with tau = 1 / (1 - alpha) = 4, r = tau, and no Scale nodes.
    const h5_snapshot f = h5_snapshot::load(path);
    EXPECT_EQ(f.read_string("/node/nodes/features.2.relu/type"), "LIF");
    EXPECT_FLOAT_EQ(f.read_floats("/node/nodes/features.2.relu/tau").flatten()[0].item<float>(), 4.0f);
    EXPECT_FALSE(f.exists("/node/nodes/features.2.relu.vth_scale"));
    EXPECT_FALSE(f.exists("/node/nodes/features.1")); // BN folded into features.0
    const graph back = import_nir(path);
    for (const auto & n : back.nodes) {
        EXPECT_NE(n.op, op_kind::batch_norm);
        if (n.op == op_kind::spike) {
            EXPECT_DOUBLE_EQ(n.attrs.neuron.alpha, 0.75);
            EXPECT_EQ(n.attrs.neuron.reset, reset_mode::hard);
        }
    }
    // Identical spikes to the source graph with its BN folded the same way (folding is the only change).
    graph folded = snn.clone();
    EXPECT_EQ(fold_batch_norm(folded), 5);
    expect_identical(folded, back, 6, 5);
}

TEST(Nir, FileLayoutIsNirs) {
    convert_options opt;
    const graph snn = converted("resnet_op17.onnx", opt);
    const std::string path = tmp_path("layout.nir");
    export_nir(path, snn);
    const h5_snapshot f = h5_snapshot::load(path);
    EXPECT_EQ(f.read_string("/version"), "1.0.8");
    EXPECT_EQ(f.read_string("/node/type"), "NIRGraph");
    EXPECT_EQ(f.read_string("/node/nodes/input/type"), "Input");
    EXPECT_EQ(f.read_ints("/node/nodes/input/shape"), (std::vector<int64_t>{1, 28, 28}));
    EXPECT_EQ(f.read_string("/node/nodes/stem.0/type"), "Conv2d");
    EXPECT_EQ(f.read_ints("/node/nodes/stem.0/input_shape"), (std::vector<int64_t>{28, 28}));
    EXPECT_EQ(f.read_string("/node/nodes/fc/type"), "Affine");
    EXPECT_EQ(f.read_string("/node/nodes/output/type"), "Output");
    // Residual add: two edges into the spiking neuron after it, none named after the add.
    const auto edges = f.read_string_pairs("/node/edges");
    int into = 0;
    std::string neuron;
    for (const auto & e : edges) {
        EXPECT_EQ(e.second.find("Add"), std::string::npos);
    }
    // Spikes of value V_th that reach an add (the identity shortcut) keep a Scale node; those read only by convs
    // (the strided block's conv and 1x1 shortcut) or a pool and the linear have their amplitude in those weights.
    int scaled = 0, folded = 0;
    std::string scaled_neuron;
    for (const auto & n : snn.nodes) {
        if (n.op != op_kind::spike) {
            continue;
        }
        const bool has_scale = f.exists("/node/nodes/" + n.name + ".vth_scale");
        EXPECT_NE(has_scale, f.exists("/node/nodes/" + n.name + "/metadata/snnkit_amplitude_folded")) << n.name;
        scaled += has_scale;
        folded += !has_scale;
        if (neuron.empty() && snn.nodes[n.inputs[0]].op == op_kind::add) {
            neuron = n.name;
        }
        if (scaled_neuron.empty() && has_scale) {
            scaled_neuron = n.name;
        }
    }
    EXPECT_EQ(scaled, 1); // stem.2.relu, read by layer1's conv and its identity shortcut
    EXPECT_EQ(folded, 4);
    ASSERT_FALSE(neuron.empty());
    ASSERT_FALSE(scaled_neuron.empty());
    for (const auto & e : edges) {
        into += e.second == neuron;
    }
    EXPECT_EQ(into, 2);
    EXPECT_EQ(f.read_string("/node/nodes/" + neuron + "/type"), "IF");
    // The IF's parameters are per neuron; where an add reads the spikes, a Scale node gives them the value V_th.
    EXPECT_EQ(f.read_floats("/node/nodes/" + neuron + "/v_threshold").dim(), 3);
    const at::Tensor vth = f.read_floats("/node/nodes/" + scaled_neuron + "/v_threshold");
    EXPECT_EQ(vth.dim(), 3);
    EXPECT_TRUE(f.read_floats("/node/nodes/" + scaled_neuron + ".vth_scale/scale").equal(vth));
}

TEST(Nir, ForeignFileFromTheNirPackageRunsAsNirDefines) {
    // foreign_lif.nir was written by the PyPI nir package (scripts/make_onnx_fixtures.py --nir):
    // input[4] -> Affine -> LIF (tau = r = 4) -> Affine -> IF (per-neuron thresholds) -> Output.
    const std::string path = fixture("foreign_lif.nir");
    const graph g = import_nir(path);
    ASSERT_EQ(g.nodes.size(), 5u);
    EXPECT_EQ(g.nodes[2].op, op_kind::spike);
    EXPECT_DOUBLE_EQ(g.nodes[2].attrs.neuron.alpha, 0.75); // 1 - dt / tau
    EXPECT_EQ(g.nodes[2].attrs.neuron.reset, reset_mode::hard);
    EXPECT_FALSE(g.nodes[2].attrs.neuron.spike_vth);
    // Naive reference of NIR's discrete-time dynamics (dt = 1) with the file's parameters.
    const h5_snapshot f = h5_snapshot::load(path);
    const at::Tensor w1 = f.read_floats("/node/nodes/fc1/weight"), b1 = f.read_floats("/node/nodes/fc1/bias");
    const at::Tensor w2 = f.read_floats("/node/nodes/fc2/weight"), b2 = f.read_floats("/node/nodes/fc2/bias");
    const at::Tensor th1 = f.read_floats("/node/nodes/lif1/v_threshold"), th2 = f.read_floats("/node/nodes/if2/v_threshold");
    at::manual_seed(2);
    const at::Tensor x = at::randn({16, 4}) * 2;
    const int64_t T = 10;
    at::Tensor v1 = at::zeros({16, 5}), v2 = at::zeros({16, 3});
    std::vector<at::Tensor> want;
    for (int64_t t = 0; t < T; ++t) {
        v1 = 0.75 * v1 + at::addmm(b1, x, w1.t());
        const at::Tensor s1 = v1.ge(th1).to(at::kFloat);
        v1 = v1 * (1 - s1);
        v2 = v2 + at::addmm(b2, s1, w2.t());
        const at::Tensor s2 = v2.ge(th2).to(at::kFloat);
        v2 = v2 * (1 - s2);
        want.push_back(s2);
    }
    const run_result r = run(g, x, T);
    EXPECT_TRUE(r.out.equal(at::stack(want))) << "max diff " << (r.out - at::stack(want)).abs().max().item<float>();
    EXPECT_GT(r.out.sum().item<float>(), 0);
}

TEST(Nir, FixedLengthStringsReadInFull) {
    // The same graph with fixed-length HDF5 strings (scripts/make_onnx_fixtures.py --nir-fixed-strings): the
    // null-padded edge name "output" fills its 6 bytes with no terminator, "LIF" is full-width UTF-8. Both
    // files must import to the same network.
    const graph a = import_nir(fixture("foreign_lif.nir"));
    const graph b = import_nir(fixture("foreign_fixed_strings.nir"));
    ASSERT_EQ(a.nodes.size(), b.nodes.size());
    for (size_t i = 0; i < a.nodes.size(); ++i) {
        EXPECT_EQ(a.nodes[i].name, b.nodes[i].name);
        EXPECT_EQ(a.nodes[i].op, b.nodes[i].op);
    }
    at::manual_seed(3);
    const at::Tensor x = at::randn({8, 4}) * 2;
    EXPECT_TRUE(run(a, x, 6).out.equal(run(b, x, 6).out));
    const h5_snapshot f = h5_snapshot::load(fixture("foreign_fixed_strings.nir"));
    EXPECT_EQ(f.read_string("/node/nodes/fc1/type"), "Affine");
    EXPECT_EQ(f.read_string("/node/nodes/lif1/type"), "LIF");
}

TEST(Nir, ErrorsAreClear) {
    // Max-pool has no NIR form; an ANN (ReLUs) is refused.
    graph ann = import_onnx(fixture("small_cnn_op9.onnx"));
    try {
        export_nir(tmp_path("x.nir"), ann);
        FAIL() << "exported an ANN";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("ReLU"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(tmp_path("x.nir")));
    // Truncated / garbage files.
    convert_options opt;
    const std::string path = tmp_path("t.nir");
    export_nir(path, converted("resnet_op17.onnx", opt));
    const std::string bytes = read_file(path);
    for (size_t cut : {size_t(0), size_t(100), bytes.size() / 2, bytes.size() - 10}) {
        write_file_atomic(tmp_path("cut.nir"), bytes.substr(0, cut));
        EXPECT_THROW(import_nir(tmp_path("cut.nir")), snnkit::error) << "cut at " << cut;
    }
    EXPECT_THROW(import_nir(tmp_path("missing.nir")), snnkit::error);
}

// Hand-made files whose snnkit metadata has the wrong size: one clear error naming the node or the key
// (an empty snnkit_index was read past its end).
TEST(Nir, MalformedSnnkitMetadataIsRefused) {
    const auto write = [](const std::string & path, const std::vector<int64_t> & index, float dt) {
        h5_file f = nir_skeleton(4);
        f.write_floats("/node/metadata/snnkit_dt", at::scalar_tensor(dt, at::kFloat));
        f.write_ints("/node/nodes/input/metadata/snnkit_index", index);
        f.write_string_pairs("/node/edges", {{"input", "output"}});
        f.save(path);
    };
    write(tmp_path("index_empty.nir"), {}, 1.0f);
    std::string e = import_error(tmp_path("index_empty.nir"));
    EXPECT_NE(e.find("metadata 'snnkit_index' must hold one integer, it holds 0"), std::string::npos) << e;
    write(tmp_path("dt_zero.nir"), {0}, 0.0f);
    e = import_error(tmp_path("dt_zero.nir"));
    EXPECT_NE(e.find("snnkit_dt must be one finite time step > 0"), std::string::npos) << e;
    // snnkit's own weight beside a folded / dense one must fit it; a dense conv's groups need that weight.
    const auto layer = [](const std::string & path, const std::string & type, const at::Tensor & w,
                          const at::Tensor & own, int64_t groups) {
        h5_file f = nir_skeleton(4);
        const std::string p = "/node/nodes/w";
        f.group(p);
        f.group(p + "/metadata");
        f.write_string(p + "/type", type);
        f.write_floats(p + "/weight", w);
        f.write_floats(p + "/bias", at::zeros({w.size(0)}));
        if (own.defined()) {
            f.write_floats(p + "/metadata/snnkit_weight", own);
        }
        if (type == "Conv2d") {
            for (const char * k : {"stride", "padding", "dilation"}) {
                f.write_ints(p + "/" + k, {1, 1});
            }
            f.write_ints(p + "/groups", {1}, true);
            f.write_ints(p + "/metadata/snnkit_groups", {groups}, true);
        }
        f.write_string_pairs("/node/edges", {{"input", "w"}, {"w", "output"}});
        f.save(path);
    };
    layer(tmp_path("own_shape.nir"), "Affine", at::ones({4, 4}), at::ones({4, 5}), 1);
    e = import_error(tmp_path("own_shape.nir"));
    EXPECT_NE(e.find("node 'w' (Affine): metadata 'snnkit_weight' does not fit 'weight'"), std::string::npos) << e;
    layer(tmp_path("groups_alone.nir"), "Conv2d", at::ones({4, 4, 1, 1}), at::Tensor(), 2);
    e = import_error(tmp_path("groups_alone.nir"));
    EXPECT_NE(e.find("metadata 'snnkit_groups' without 'snnkit_weight'"), std::string::npos) << e;
    layer(tmp_path("groups_big.nir"), "Conv2d", at::ones({4, 4, 1, 1}), at::ones({4, 1, 1, 1}), 5);
    e = import_error(tmp_path("groups_big.nir"));
    EXPECT_NE(e.find("'snnkit_groups' must be 1 to the weight's input channels"), std::string::npos) << e;
}

// Foreign (non-snnkit) neurons: NIR's Euler step gives the input a gain of r * dt / tau (LIF) or r * dt
// (IF); snnkit's neurons have a gain of 1, so other values are refused, not silently misread. An empty
// v_leak made a tensor reduction throw c10::Error: it must come out as one snnkit error naming the file.
TEST(Nir, ForeignNeuronGainAndMalformedTensorsAreRefused) {
    const auto write = [](const std::string & path, const std::string & type, const at::Tensor & r,
                          const at::Tensor & v_leak) {
        h5_file f = nir_skeleton(4);
        f.group("/node/nodes/fc");
        f.write_string("/node/nodes/fc/type", "Affine");
        f.write_floats("/node/nodes/fc/weight", at::eye(4));
        f.write_floats("/node/nodes/fc/bias", at::zeros({4}));
        f.group("/node/nodes/fc/metadata");
        f.group("/node/nodes/n1");
        f.write_string("/node/nodes/n1/type", type);
        f.write_floats("/node/nodes/n1/r", r);
        f.write_floats("/node/nodes/n1/v_threshold", at::ones({4}));
        if (type == "LIF") {
            f.write_floats("/node/nodes/n1/tau", at::full({4}, 4.0f));
            f.write_floats("/node/nodes/n1/v_leak", v_leak);
        }
        f.group("/node/nodes/n1/metadata");
        f.write_string_pairs("/node/edges", {{"input", "fc"}, {"fc", "n1"}, {"n1", "output"}});
        f.save(path);
    };
    // The well-formed files load (r = tau / dt for the LIF, r = 1 / dt for the IF; dt = 1) ...
    write(tmp_path("lif_ok.nir"), "LIF", at::full({4}, 4.0f), at::zeros({4}));
    EXPECT_EQ(import_error(tmp_path("lif_ok.nir")), "no error");
    write(tmp_path("if_ok.nir"), "IF", at::ones({4}), at::Tensor());
    EXPECT_EQ(import_error(tmp_path("if_ok.nir")), "no error");
    // ... another gain does not.
    write(tmp_path("lif_r1.nir"), "LIF", at::ones({4}), at::zeros({4}));
    std::string e = import_error(tmp_path("lif_r1.nir"));
    EXPECT_NE(e.find("'n1'"), std::string::npos) << e;
    EXPECT_NE(e.find("r must equal tau/dt"), std::string::npos) << e;
    write(tmp_path("if_r2.nir"), "IF", at::full({4}, 2.0f), at::Tensor());
    e = import_error(tmp_path("if_r2.nir"));
    EXPECT_NE(e.find("r must be 1/dt"), std::string::npos) << e;
    // A tensor operation refusing the file's values is reported as malformed data of that file.
    write(tmp_path("lif_empty_leak.nir"), "LIF", at::full({4}, 4.0f), at::zeros({0}));
    e = import_error(tmp_path("lif_empty_leak.nir"));
    EXPECT_NE(e.find("lif_empty_leak.nir"), std::string::npos) << e;
    EXPECT_NE(e.find("malformed NIR data"), std::string::npos) << e;
}

// Converted spikes carry V_th; where only average pools and flattens lie between a neuron and the convs /
// linears reading it, the export writes V_th into their weights (NIR readers such as snnTorch know no Scale
// node). Per-channel thresholds through a depthwise and a grouped conv, and through a pool and a flatten into
// a linear: the file has no Scale node and no grouped conv (written dense), snnkit's import restores the graph
// exactly, and the file's plain meaning (0/1 spikes, the file's weights, groups 1) computes the same network.
TEST(Nir, SpikeAmplitudeFoldedIntoGroupedDepthwiseAndLinearWeights) {
    graph_builder b({2, 10, 10}, 4, 9);
    b.conv2d("c1", 2, 8, 3, 1, 1);
    b.relu("c1.relu");
    b.conv2d("dw", 8, 8, 3, 1, 1, true, 8); // depthwise
    b.relu("dw.relu");
    b.conv2d("gc", 8, 12, 1, 1, 0, false, 4); // grouped, 2 input channels per group, no bias
    b.relu("gc.relu");
    b.avg_pool("pool", 2, 2);
    b.flatten("flat");
    b.linear("fc", 12 * 5 * 5, 4);
    graph ann = b.finish("custom");
    at::manual_seed(4);
    const at::Tensor x = at::randn({6, 2, 10, 10});
    record_activation_stats(ann, at::randn({64, 2, 10, 10}));
    convert_options opt;
    opt.T = 8;
    opt.channel_wise = true;
    const graph snn = convert_to_snn(ann, opt);
    const std::string path = tmp_path("folded.nir");
    export_nir(path, snn);

    const h5_snapshot f = h5_snapshot::load(path);
    for (const auto & name : f.children("/node/nodes")) {
        EXPECT_NE(f.read_string("/node/nodes/" + name + "/type"), "Scale") << name;
    }
    graph plain = snn.clone(); // what a reader ignoring snnkit's metadata runs
    int spiking = 0;
    for (auto & n : plain.nodes) {
        if (n.op == op_kind::spike) {
            ASSERT_TRUE(n.attrs.neuron.spike_vth) << n.name;
            ASSERT_EQ(n.tensor("v_th").dim(), 1) << n.name; // per channel
            n.attrs.neuron.spike_vth = false;
            ++spiking;
        } else if (n.op == op_kind::conv2d || n.op == op_kind::linear) {
            const at::Tensor w = f.read_floats("/node/nodes/" + n.name + "/weight");
            EXPECT_EQ(f.exists("/node/nodes/" + n.name + "/metadata/snnkit_weight"), n.name != "c1") << n.name;
            EXPECT_EQ(n.name == "c1", w.equal(n.params.at("weight"))) << n.name;
            n.params["weight"] = w;
            if (n.op == op_kind::conv2d) { // grouped convs written dense (block-diagonal), groups kept aside
                EXPECT_EQ(f.read_ints("/node/nodes/" + n.name + "/groups"), std::vector<int64_t>{1}) << n.name;
                const std::string g = "/node/nodes/" + n.name + "/metadata/snnkit_groups";
                EXPECT_EQ(f.exists(g) ? f.read_ints(g)[0] : 1, n.attrs.groups) << n.name;
                EXPECT_EQ(w.size(1), n.attrs.in) << n.name;
                n.attrs.groups = 1;
            }
        }
    }
    ASSERT_EQ(spiking, 3);

    const graph back = import_nir(path);
    expect_same_structure(snn, back);
    for (size_t i = 0; i < snn.nodes.size(); ++i) {
        for (const auto & kv : snn.nodes[i].params) {
            EXPECT_TRUE(kv.second.equal(back.nodes[i].params.at(kv.first))) << snn.nodes[i].name << "." << kv.first;
        }
        EXPECT_EQ(snn.nodes[i].attrs.neuron.spike_vth, back.nodes[i].attrs.neuron.spike_vth) << snn.nodes[i].name;
    }
    expect_identical(snn, back, 8, 3, x);

    // The folded weights with 0/1 spikes: the same spikes (up to rounding at the threshold) and output.
    const run_result ra = run(snn, x, 8), rp = run(plain, x, 8);
    for (const auto & kv : ra.spikes) {
        const at::Tensor fired = kv.second.ne(0), plain_fired = rp.spikes.at(kv.first).ne(0);
        const double differ = fired.ne(plain_fired).to(at::kFloat).mean().item<double>();
        EXPECT_LE(differ, 1e-3) << kv.first;
        EXPECT_GT(fired.sum().item<int64_t>(), 0) << kv.first;
    }
    const double diff = (ra.out - rp.out).abs().max().item<double>();
    EXPECT_LE(diff, 1e-4 * (1 + ra.out.abs().max().item<double>()));
    std::printf("folded-amplitude file read plainly: max |output difference| %.3g\n", diff);
}
