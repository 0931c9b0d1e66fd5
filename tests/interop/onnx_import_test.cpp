// ONNX import against PyTorch: each committed fixture (scripts/make_onnx_fixtures.py) holds an input batch
// and PyTorch's output on it; snnkit's imported graph must reproduce that output. Malformed and unsupported
// models must give one clear snnkit::error.
#include "snnkit/core/error.h"
#include "snnkit/interop/onnx_import.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/model_io.h"
#include "snnkit/io/safetensors.h"
#include "snnkit/nn/forward.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

using namespace snnkit;

namespace {

std::string fixture(const std::string & name) { return std::string(SNNKIT_SOURCE_DIR) + "/tests/interop/fixtures/" + name; }

std::map<op_kind, int> op_counts(const graph & g) {
    std::map<op_kind, int> c;
    for (const auto & n : g.nodes) {
        c[n.op]++;
    }
    return c;
}

// Max |snnkit - PyTorch| on the fixture's saved input.
double max_abs_diff(const std::string & name, graph * out = nullptr) {
    at::NoGradGuard ng;
    const graph g = import_onnx(fixture(name + ".onnx"));
    at::Tensor x, y;
    for (const auto & kv : safetensors_load(fixture(name + ".io.safetensors"))) {
        (kv.first == "input" ? x : y) = kv.second;
    }
    const at::Tensor got = ann_forward(g, x);
    EXPECT_EQ(got.sizes(), y.sizes());
    const double d = (got - y).abs().max().item<double>();
    std::printf("%-16s nodes %2zu  max |snnkit - pytorch| = %.3g  (max |y| %.3g)\n", name.c_str(), g.nodes.size(), d,
                y.abs().max().item<double>());
    if (out != nullptr) {
        *out = g;
    }
    return d;
}

std::string error_of(const std::string & bytes, const std::string & where) {
    try {
        import_onnx_bytes(bytes, where);
    } catch (const snnkit::error & e) {
        return e.what();
    }
    return "";
}

std::string file_error(const std::string & name) { return error_of(read_file(fixture(name)), name); }

} // namespace

TEST(OnnxImport, SmallCnnOpset9MatchesPyTorch) {
    graph g;
    EXPECT_LE(max_abs_diff("small_cnn_op9", &g), 1e-4);
    const auto c = op_counts(g);
    EXPECT_EQ(c.at(op_kind::conv2d), 2);
    EXPECT_EQ(c.at(op_kind::linear), 2); // Gemm, MatMul + Add
    EXPECT_EQ(c.at(op_kind::clip_relu), 2); // Relu + Clip(max 6), Clip(0, 2.5)
    EXPECT_EQ(c.at(op_kind::relu), 1);
    EXPECT_EQ(c.at(op_kind::max_pool), 1);
    EXPECT_EQ(c.at(op_kind::flatten), 1); // Reshape used as flatten
    EXPECT_EQ(g.input_shape, (std::vector<int64_t>{1, 28, 28}));
    EXPECT_EQ(g.num_classes, 10);
    EXPECT_TRUE(g.nodes[g.find("conv1")].params.count("bias"));
    EXPECT_FALSE(g.nodes[g.find("conv2")].params.count("bias"));
}

TEST(OnnxImport, SmallCnnOpset11ClipInputsDynamicBatch) {
    graph g;
    EXPECT_LE(max_abs_diff("small_cnn_op11", &g), 1e-4);
    EXPECT_EQ(op_counts(g).at(op_kind::clip_relu), 2);
    EXPECT_DOUBLE_EQ(g.nodes[g.find("conv2")].attrs.stride[0], 2);
}

TEST(OnnxImport, VggWithBatchNormOpset13MatchesPyTorch) {
    graph g;
    EXPECT_LE(max_abs_diff("vgg_bn_op13", &g), 1e-4);
    const auto c = op_counts(g);
    EXPECT_EQ(c.at(op_kind::batch_norm), 5); // 4 BatchNorm2d + 1 BatchNorm1d
    EXPECT_EQ(c.at(op_kind::avg_pool), 2);   // Pad + AveragePool folded
    EXPECT_EQ(c.count(op_kind::dropout), 0u);
    EXPECT_TRUE(g.nodes[g.find("features.1")].op == op_kind::batch_norm);
}

TEST(OnnxImport, ResNetWithAddsOpset17MatchesPyTorch) {
    graph g;
    EXPECT_LE(max_abs_diff("resnet_op17", &g), 1e-4);
    const auto c = op_counts(g);
    EXPECT_EQ(c.at(op_kind::add), 2);
    EXPECT_EQ(c.at(op_kind::global_avg_pool), 1);
    EXPECT_EQ(g.nodes[g.find("layer1.c2")].attrs.groups, 2);
}

// The in-memory entry (what snnkit.convert hands a torch.onnx.export BytesIO to): the bytes of a file give the
// graph the path gives, node for node and tensor for tensor, and the same PyTorch output; errors name `where`.
TEST(OnnxImport, BytesEntryEqualsThePathEntry) {
    at::NoGradGuard ng;
    const std::string path = fixture("resnet_op17.onnx");
    const graph a = import_onnx(path);
    const graph b = import_onnx_bytes(read_file(path), "in memory");
    EXPECT_EQ(graph_to_json(a), graph_to_json(b));
    const auto ta = a.named_tensors(), tb = b.named_tensors();
    ASSERT_EQ(ta.size(), tb.size());
    ASSERT_GT(ta.size(), 10u);
    for (size_t i = 0; i < ta.size(); ++i) {
        EXPECT_EQ(ta[i].first, tb[i].first);
        EXPECT_TRUE(at::equal(ta[i].second, tb[i].second)) << ta[i].first;
    }
    at::Tensor x, y;
    for (const auto & kv : safetensors_load(fixture("resnet_op17.io.safetensors"))) {
        (kv.first == "input" ? x : y) = kv.second;
    }
    EXPECT_LE((ann_forward(b, x) - y).abs().max().item<double>(), 1e-4);
    EXPECT_EQ(error_of(read_file(path).substr(0, 100), "module bytes").rfind("module bytes: ", 0), 0u);
    EXPECT_EQ(error_of("", "module bytes"), "module bytes: empty file");
}

TEST(OnnxImport, IdentityDropoutGemmAlphaBetaTransB) {
    // Built with onnx.helper; the expected output was computed with numpy.
    graph g;
    EXPECT_LE(max_abs_diff("identity_dropout_op9", &g), 1e-4);
    EXPECT_EQ(g.nodes.size(), 4u); // input, fc1, relu, fc2: Identity and Dropout removed
    EXPECT_EQ(g.input_shape, (std::vector<int64_t>{6}));
}

TEST(OnnxImport, ViewFlattenWithDynamicBatchShapeOps) {
    // x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape, evaluated on constants.
    for (const char * name : {"view_flatten_op9", "view_flatten_op13"}) {
        graph g;
        EXPECT_LE(max_abs_diff(name, &g), 1e-4) << name;
        EXPECT_EQ(op_counts(g).at(op_kind::flatten), 1) << name;
        EXPECT_EQ(g.nodes.size(), 6u) << name; // input, conv, relu, avg_pool, flatten, fc
    }
}

TEST(OnnxImport, UnsupportedOpsetAndAttributes) {
    EXPECT_NE(file_error("bad_opset8.onnx").find("opset 8 is not supported (supported: 9 to 17)"), std::string::npos);
    const std::string e = file_error("bad_ceil_mode.onnx");
    EXPECT_NE(e.find("node 'pool' (MaxPool): ceil_mode = 1 is not supported"), std::string::npos) << e;
    // Later opsets' forms that would change an op's meaning if ignored.
    const std::string pad = file_error("bad_negative_pad.onnx");
    EXPECT_NE(pad.find("node 'crop' (Pad): negative pads (cropping) are not supported"), std::string::npos) << pad;
    const std::string zero = file_error("bad_reshape_allowzero.onnx");
    EXPECT_NE(zero.find("node 'flat' (Reshape): allowzero = 1 is not supported"), std::string::npos) << zero;
    const std::string start = file_error("bad_shape_start.onnx");
    EXPECT_NE(start.find("node 'shape' (Shape): the start / end attributes are not supported"), std::string::npos)
        << start;
}

TEST(OnnxImport, TruncatedFilesGiveAnErrorAtEveryCut) {
    const std::string bytes = read_file(fixture("small_cnn_op9.onnx"));
    int checked = 0;
    for (size_t cut = 0; cut < bytes.size(); cut += 997) {
        const std::string e = error_of(bytes.substr(0, cut), "cut.onnx");
        EXPECT_FALSE(e.empty()) << "cut at " << cut << " of " << bytes.size() << " was accepted";
        EXPECT_EQ(e.rfind("cut.onnx: ", 0), 0u) << e;
        ++checked;
    }
    EXPECT_GT(checked, 50);
    EXPECT_NE(error_of(bytes.substr(0, bytes.size() / 2), "half.onnx").find("half.onnx"), std::string::npos);
    EXPECT_NE(error_of("this is not a protobuf", "text.onnx").find("not a valid ONNX model"), std::string::npos);
    EXPECT_NE(error_of("", "empty.onnx").find("empty"), std::string::npos);
}

TEST(OnnxImport, CorruptedBytesGiveAnErrorOrAValidGraph) {
    // Seeded random byte changes: the import either succeeds with a valid graph or throws snnkit::error;
    // never another exception type, never a crash.
    const std::string bytes = read_file(fixture("small_cnn_op9.onnx"));
    uint64_t state = 12345;
    auto next = [&]() {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return state >> 33;
    };
    int errors = 0, ok = 0;
    for (int trial = 0; trial < 300; ++trial) {
        std::string b = bytes;
        const int changes = 1 + static_cast<int>(next() % 4);
        for (int k = 0; k < changes; ++k) {
            // Mostly the structure (the first and last 2 KB), not the float data in between.
            const size_t span = 2048;
            size_t pos = next() % (2 * span);
            pos = pos < span ? pos : b.size() - (pos - span) - 1;
            b[pos] = static_cast<char>(next() & 0xff);
        }
        try {
            const graph g = import_onnx_bytes(b, "mutated.onnx");
            g.validate();
            ++ok;
        } catch (const snnkit::error &) {
            ++errors;
        } catch (const std::exception & e) {
            ADD_FAILURE() << "trial " << trial << ": not a snnkit::error: " << e.what();
        }
    }
    std::printf("corrupted ONNX files: %d rejected with snnkit::error, %d still valid graphs\n", errors, ok);
    EXPECT_GT(errors, 50);
}

TEST(OnnxImport, UnsupportedOpNamesNodeAndType) {
    const std::string e = file_error("bad_sigmoid.onnx");
    EXPECT_NE(e.find("(Sigmoid)"), std::string::npos) << e;
    EXPECT_NE(e.find("node '/Sigmoid'"), std::string::npos) << e;
    EXPECT_NE(e.find("unsupported op"), std::string::npos) << e;
}

TEST(OnnxImport, DynamicSpatialDimsAreRefused) {
    const std::string e = file_error("bad_dynamic_hw.onnx");
    EXPECT_NE(e.find("dim 2 is dynamic ('h')"), std::string::npos) << e;
}

TEST(OnnxImport, MissingInitializerIsNamed) {
    const std::string e = file_error("bad_missing_init.onnx");
    EXPECT_NE(e.find("(Conv)"), std::string::npos) << e;
    EXPECT_NE(e.find("conv1.weight"), std::string::npos) << e;
}

TEST(OnnxImport, MissingFile) {
    EXPECT_THROW(import_onnx(fixture("no_such.onnx")), snnkit::error);
}
