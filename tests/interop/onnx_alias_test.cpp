// ONNX import folds a constant Add into the conv before it (its bias) and a Clip into the Relu before it. Ops
// that vanish on import (Identity, Dropout) give that value more names; the folds must count the readers of
// every name, or a second reader of the conv / Relu output silently gets the folded value. The models are
// built here with the ONNX protobuf classes.
#include "snnkit/core/error.h"
#include "snnkit/interop/onnx_import.h"
#include "snnkit/nn/forward.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

using namespace snnkit;

namespace {

struct model_builder {
    onnx::ModelProto m; // copyable: the graph is always reached through m

    onnx::GraphProto * graph() { return m.mutable_graph(); }

    model_builder() {
        m.set_ir_version(8);
        auto * op = m.add_opset_import();
        op->set_domain("");
        op->set_version(13);
        graph()->set_name("alias");
        auto * in = graph()->add_input();
        in->set_name("x");
        auto * tt = in->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(onnx::TensorProto::FLOAT);
        for (int64_t d : {1, 1, 4, 4}) {
            tt->mutable_shape()->add_dim()->set_dim_value(d);
        }
    }
    void init(const std::string & name, const at::Tensor & t) {
        auto * p = graph()->add_initializer();
        p->set_name(name);
        p->set_data_type(onnx::TensorProto::FLOAT);
        for (int64_t d : t.sizes()) {
            p->add_dims(d);
        }
        const at::Tensor c = t.contiguous();
        for (int64_t i = 0; i < c.numel(); ++i) {
            p->add_float_data(c.data_ptr<float>()[i]);
        }
    }
    onnx::NodeProto * node(const std::string & op, std::vector<std::string> in, const std::string & out) {
        auto * n = graph()->add_node();
        n->set_op_type(op);
        n->set_name(out + "_" + op);
        for (const auto & i : in) {
            n->add_input(i);
        }
        n->add_output(out);
        return n;
    }
    void conv(const std::string & x, const std::string & w, const std::string & out) {
        auto * n = node("Conv", {x, w}, out);
        auto * k = n->add_attribute();
        k->set_name("kernel_shape");
        k->set_type(onnx::AttributeProto::INTS);
        k->add_ints(3);
        k->add_ints(3);
        auto * p = n->add_attribute();
        p->set_name("pads");
        p->set_type(onnx::AttributeProto::INTS);
        for (int i = 0; i < 4; ++i) {
            p->add_ints(1);
        }
    }
    void output(const std::string & name) { graph()->add_output()->set_name(name); }
    std::string bytes() const { return m.SerializeAsString(); }
};

const at::Tensor & weight() {
    static const at::Tensor w = [] {
        at::manual_seed(4);
        return at::randn({2, 1, 3, 3});
    }();
    return w;
}

// x -> Conv -> Identity -> Add(constant [0.25, -0.5] per channel) = "a"; the conv's output is "c".
model_builder conv_identity_add() {
    model_builder b;
    b.init("w", weight());
    b.init("b", at::tensor({0.25f, -0.5f}).reshape({1, 2, 1, 1}));
    b.conv("x", "w", "c");
    b.node("Identity", {"c"}, "i");
    b.node("Add", {"i", "b"}, "a");
    return b;
}

std::string import_error(const model_builder & b) {
    try {
        import_onnx_bytes(b.bytes(), "alias.onnx");
    } catch (const snnkit::error & e) {
        return e.what();
    }
    return "no error";
}

} // namespace

// conv -> Identity -> Add(constant) -> Relu -> Flatten: the constant is the conv's bias (checked numerically).
TEST(OnnxAlias, ConstantAddThroughIdentityFoldsIntoTheConvBias) {
    model_builder b = conv_identity_add();
    b.node("Relu", {"a"}, "r");
    b.node("Flatten", {"r"}, "f");
    b.output("f");
    const graph g = import_onnx_bytes(b.bytes(), "alias.onnx");
    at::manual_seed(5);
    const at::Tensor x = at::randn({3, 1, 4, 4});
    at::NoGradGuard ng;
    const at::Tensor want = at::relu(at::conv2d(x, weight(), at::tensor({0.25f, -0.5f}), 1, 1)).flatten(1);
    EXPECT_TRUE(at::allclose(ann_forward(g, x), want, 1e-5, 1e-6));
}

// The same, but the conv's output is also read (through its first name) by a second Relu: folding the constant
// would change what that Relu sees, so the Add is refused.
TEST(OnnxAlias, ConstantAddIsNotFoldedWhenTheConvOutputHasAnotherReader) {
    model_builder b = conv_identity_add();
    b.node("Relu", {"a"}, "ra");
    b.node("Relu", {"c"}, "rc");
    b.node("Add", {"ra", "rc"}, "s");
    b.node("Flatten", {"s"}, "f");
    b.output("f");
    const std::string m = import_error(b);
    EXPECT_NE(m.find("adding a constant is only supported as the bias of the conv / linear just before it"),
              std::string::npos)
        << m;
}

// Relu -> Dropout -> Clip(max 1) with the Relu's output also read by a second branch: the Clip cannot become
// part of the Relu (the other branch must see the unclipped value), so it is refused.
TEST(OnnxAlias, ClipIsNotFoldedIntoAReluWithAnotherReader) {
    model_builder b;
    b.init("w", weight());
    b.init("lo", at::tensor({-1.0f}).reshape({}));
    b.init("hi", at::tensor({1.0f}).reshape({}));
    b.conv("x", "w", "c");
    b.node("Relu", {"c"}, "r");
    b.node("Dropout", {"r"}, "d");
    b.node("Clip", {"d", "lo", "hi"}, "k");
    b.node("Add", {"k", "r"}, "s");
    b.node("Flatten", {"s"}, "f");
    b.output("f");
    const std::string m = import_error(b);
    EXPECT_NE(m.find("only Clip(0, c), or Clip(max c) right after a Relu, is supported"), std::string::npos) << m;
}
