// snnkit/interop/onnx_import_ops.cpp: one onnx_importer method per ONNX op (the op map is in onnx_import.h).
// Each checks what snnkit supports, fails naming the node otherwise, and appends the snnkit node(s).
#include "snnkit/interop/onnx_importer.h"
#include "snnkit/interop/onnx_proto.h"

#include "snnkit/nn/forward.h"

#if !defined(ONNX_ML) && __has_include(<onnx/onnx-ml.pb.h>)
#define ONNX_ML 1 // Debian's libonnx-dev ships the ML variant of the protobuf classes (CMake's target sets it too)
#endif
#include <onnx/onnx_pb.h>

#include <cmath>
#include <limits>

namespace snnkit {

void onnx_importer::add_node(const onnx::NodeProto & nd) {
    if (!nd.domain().empty() && nd.domain() != "ai.onnx") {
        node_fail(nd, "custom op domain '" + nd.domain() + "' is not supported");
    }
    if (nd.output_size() < 1) {
        node_fail(nd, "has no output");
    }
    const std::string & op = nd.op_type();
    if (op == "Constant") {
        const auto * a = onnx_attr(nd, "value");
        if (a == nullptr || !a->has_t()) {
            node_fail(nd, "only the tensor 'value' form of Constant is supported");
        }
        values_[nd.output(0)].data = onnx_tensor(a->t(), where_);
    } else if (op == "Identity" || op == "Dropout") {
        alias(nd, input_node(nd, 0));
    } else if (op == "Conv") {
        conv(nd);
    } else if (op == "Gemm") {
        gemm(nd);
    } else if (op == "MatMul") {
        matmul(nd);
    } else if (op == "Add") {
        add(nd);
    } else if (op == "Relu") {
        node n = make(nd, op_kind::relu, input_node(nd, 0));
        push(nd, std::move(n));
    } else if (op == "Clip") {
        clip(nd);
    } else if (op == "AveragePool" || op == "MaxPool") {
        pool(nd);
    } else if (op == "GlobalAveragePool") {
        push(nd, make(nd, op_kind::global_avg_pool, input_node(nd, 0)));
    } else if (op == "BatchNormalization") {
        batch_norm(nd);
    } else if (op == "Flatten") {
        const int from = input_node(nd, 0);
        if (onnx_attr_int(nd, "axis", 1) != 1) {
            node_fail(nd, "only axis 1 (keep the batch dim) is supported");
        }
        flatten(nd, from);
    } else if (op == "Reshape") {
        if (onnx_attr_int(nd, "allowzero", 0) != 0) { // opset 14: 0 is then a literal size, not "copy"
            node_fail(nd, "allowzero = 1 is not supported");
        }
        reshape(nd);
    } else if (op == "Pad") {
        pad(nd);
    } else if (op == "Shape" || op == "Gather" || op == "Unsqueeze" || op == "Concat") {
        shape_arith(nd);
    } else {
        node_fail(nd, "unsupported op (snnkit imports Conv, Gemm, MatMul, Add, Relu, Clip, AveragePool, MaxPool, "
                      "GlobalAveragePool, BatchNormalization, Flatten, Reshape, Pad, Identity, Dropout, Constant, and "
                      "Shape/Gather/Unsqueeze/Concat on shapes)");
    }
}

void onnx_importer::conv(const onnx::NodeProto & nd) {
    const int from = input_node(nd, 0);
    const at::Tensor w = const_input(nd, 1).to(at::kFloat);
    const at::Tensor b = const_input(nd, 2, true);
    if (w.dim() != 4) {
        node_fail(nd, "only 2-D convolutions are supported (weight " + shape_text(w.sizes()) + ")");
    }
    node n = make(nd, op_kind::conv2d, from, 1);
    auto & a = n.attrs;
    a.groups = onnx_attr_int(nd, "group", 1);
    a.out = w.size(0);
    a.in = w.size(1) * a.groups;
    a.kernel = {w.size(2), w.size(3)};
    const auto ks = onnx_attr_ints(nd, "kernel_shape", {w.size(2), w.size(3)});
    if (ks.size() != 2 || ks[0] != w.size(2) || ks[1] != w.size(3)) {
        node_fail(nd, "kernel_shape does not match the weight " + shape_text(w.sizes()));
    }
    a.stride = pair(nd, "strides", 1);
    a.dilation = pair(nd, "dilations", 1);
    a.padding = sym_pads(nd);
    take_pad(nd, n);
    n.params["weight"] = w.contiguous();
    if (b.defined()) {
        n.params["bias"] = b.to(at::kFloat).reshape({-1}).contiguous();
    }
    push(nd, std::move(n));
}

// Folds a preceding zero Pad into conv / avg-pool padding (the Pad node was recorded, not built).
void onnx_importer::take_pad(const onnx::NodeProto & nd, node & n) {
    auto it = pending_pad_.find(nd.input(0));
    if (it == pending_pad_.end()) {
        return;
    }
    if (n.op == op_kind::avg_pool && (n.attrs.padding[0] || n.attrs.padding[1]) && !n.attrs.count_include_pad) {
        node_fail(nd, "cannot combine an explicit Pad with count_include_pad = 0 pads");
    }
    n.attrs.padding[0] += it->second[0];
    n.attrs.padding[1] += it->second[1];
    n.attrs.count_include_pad = true; // the padded zeros are real values of the input
}

void onnx_importer::gemm(const onnx::NodeProto & nd) {
    const int from = input_node(nd, 0);
    if (onnx_attr_int(nd, "transA", 0) != 0) {
        node_fail(nd, "transA = 1 is not supported");
    }
    if (probe_[from].dim() != 2) {
        node_fail(nd, "input must be 2-D [N, features] (flatten first)");
    }
    at::Tensor w = const_input(nd, 1).to(at::kFloat);
    if (w.dim() != 2) {
        node_fail(nd, "B must be a 2-D initializer");
    }
    if (onnx_attr_int(nd, "transB", 0) == 0) {
        w = w.t();
    }
    w = (w * onnx_attr_float(nd, "alpha", 1.0)).contiguous();
    node n = make(nd, op_kind::linear, from, 1);
    n.attrs.out = w.size(0);
    n.attrs.in = w.size(1);
    n.params["weight"] = w;
    const at::Tensor c = const_input(nd, 2, true);
    if (c.defined()) {
        const double beta = onnx_attr_float(nd, "beta", 1.0);
        try {
            n.params["bias"] = (c.to(at::kFloat) * beta).expand({1, w.size(0)}).reshape({-1}).contiguous();
        } catch (const std::exception &) {
            node_fail(nd, "C of shape " + shape_text(c.sizes()) + " does not broadcast to [" +
                              std::to_string(w.size(0)) + "]");
        }
    }
    push(nd, std::move(n));
}

void onnx_importer::matmul(const onnx::NodeProto & nd) {
    const int from = input_node(nd, 0);
    if (probe_[from].dim() != 2) {
        node_fail(nd, "input must be 2-D [N, features]");
    }
    const at::Tensor b = const_input(nd, 1).to(at::kFloat);
    if (b.dim() != 2) {
        node_fail(nd, "B must be a 2-D initializer [in, out]");
    }
    node n = make(nd, op_kind::linear, from, 1);
    n.attrs.in = b.size(0);
    n.attrs.out = b.size(1);
    n.params["weight"] = b.t().contiguous();
    push(nd, std::move(n));
}

void onnx_importer::add(const onnx::NodeProto & nd) {
    if (nd.input_size() != 2) {
        node_fail(nd, "expects 2 inputs");
    }
    const onnx_value & x = get(nd.input(0), "input");
    const onnx_value & y = get(nd.input(1), "input");
    if (x.node >= 0 && y.node >= 0) {
        node n = make(nd, op_kind::add, x.node);
        n.inputs = {x.node, y.node};
        if (!probe_[x.node].sizes().equals(probe_[y.node].sizes())) {
            node_fail(nd, "residual add of different shapes " + shape_text(probe_[x.node].sizes()) + " and " +
                              shape_text(probe_[y.node].sizes()));
        }
        push(nd, std::move(n));
        return;
    }
    if (x.node < 0 && y.node < 0) {
        node_fail(nd, "adds two constants (export with constant folding)");
    }
    // A constant added to a conv / linear output: that layer's bias.
    const int src = x.node >= 0 ? x.node : y.node;
    const at::Tensor c = (x.node >= 0 ? y.data : x.data).to(at::kFloat);
    node & s = g_.nodes[src];
    if ((s.op != op_kind::linear && s.op != op_kind::conv2d) || value_readers(src) != 1 ||
        src != static_cast<int>(g_.nodes.size()) - 1) {
        node_fail(nd, "adding a constant is only supported as the bias of the conv / linear just before it");
    }
    at::Tensor bias;
    const int64_t out = s.attrs.out;
    try {
        const at::Tensor full = s.op == op_kind::linear ? c.expand({1, out}) : c.expand({1, out, 1, 1});
        bias = full.reshape({-1}).contiguous();
    } catch (const std::exception &) {
        node_fail(nd, "constant of shape " + shape_text(c.sizes()) + " is not a per-channel bias of [" +
                          std::to_string(out) + "] channels");
    }
    at::Tensor old = s.tensor("bias");
    s.params["bias"] = old.defined() ? (old + bias).contiguous() : bias;
    probe_[src] = apply_op(s, {probe_[s.inputs[0]]}, false);
    alias(nd, src);
}

void onnx_importer::clip(const onnx::NodeProto & nd) {
    const int from = input_node(nd, 0);
    const double inf = std::numeric_limits<double>::infinity();
    double lo = -inf, hi = inf;
    if (opset_ < 11) {
        lo = onnx_attr_float(nd, "min", -inf);
        hi = onnx_attr_float(nd, "max", inf);
    } else {
        const at::Tensor tl = const_input(nd, 1, true), th = const_input(nd, 2, true);
        if (tl.defined()) {
            if (tl.numel() != 1) {
                node_fail(nd, "min must be a scalar, has " + std::to_string(tl.numel()) + " values");
            }
            lo = tl.to(at::kDouble).item<double>();
        }
        if (th.defined()) {
            if (th.numel() != 1) {
                node_fail(nd, "max must be a scalar, has " + std::to_string(th.numel()) + " values");
            }
            hi = th.to(at::kDouble).item<double>();
        }
    }
    if (!(hi > 0) || !std::isfinite(hi)) {
        node_fail(nd, "only Clip(0, c) with finite c > 0 (a clipped ReLU) is supported");
    }
    node & src = g_.nodes[from];
    if (lo == 0.0) {
        node n = make(nd, op_kind::clip_relu, from);
        n.attrs.clip = hi;
        push(nd, std::move(n));
    } else if (lo < 0 && src.op == op_kind::relu && from == static_cast<int>(g_.nodes.size()) - 1 &&
               value_readers(from) == 1) {
        src.op = op_kind::clip_relu; // Relu then Clip(max c), as F.relu6 exports: one clipped ReLU
        src.attrs.clip = hi;
        probe_[from] = apply_op(src, {probe_[src.inputs[0]]}, false);
        alias(nd, from);
    } else {
        node_fail(nd, "only Clip(0, c), or Clip(max c) right after a Relu, is supported (min " + std::to_string(lo) + ")");
    }
}

void onnx_importer::pool(const onnx::NodeProto & nd) {
    const int from = input_node(nd, 0);
    const bool avg = nd.op_type() == "AveragePool";
    if (onnx_attr_int(nd, "ceil_mode", 0) != 0) {
        node_fail(nd, "ceil_mode = 1 is not supported");
    }
    if (!avg && nd.output_size() > 1 && !nd.output(1).empty()) {
        node_fail(nd, "the Indices output is not supported");
    }
    if (!avg) {
        const auto d = onnx_attr_ints(nd, "dilations", {1, 1});
        if (d.size() != 2 || d[0] != 1 || d[1] != 1) {
            node_fail(nd, "dilated max-pooling is not supported");
        }
    }
    node n = make(nd, avg ? op_kind::avg_pool : op_kind::max_pool, from);
    const auto ks = onnx_attr_ints(nd, "kernel_shape", {});
    if (ks.size() != 2) {
        node_fail(nd, "kernel_shape must have 2 values (2-D pooling)");
    }
    n.attrs.kernel = {ks[0], ks[1]};
    n.attrs.stride = pair(nd, "strides", 1);
    n.attrs.padding = sym_pads(nd);
    n.attrs.count_include_pad = onnx_attr_int(nd, "count_include_pad", 0) != 0;
    if (avg) {
        take_pad(nd, n);
    } else if (pending_pad_.count(nd.input(0))) {
        node_fail(nd, "a zero Pad before MaxPool is not supported");
    }
    push(nd, std::move(n));
}

void onnx_importer::batch_norm(const onnx::NodeProto & nd) {
    const int from = input_node(nd, 0);
    if (onnx_attr_int(nd, "training_mode", 0) != 0) {
        node_fail(nd, "training_mode = 1 is not supported (export the model in eval mode)");
    }
    node n = make(nd, op_kind::batch_norm, from, 1);
    const char * keys[] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 0; k < 4; ++k) {
        at::Tensor t = const_input(nd, k + 1).to(at::kFloat).reshape({-1}).contiguous();
        (k < 2 ? n.params : n.buffers)[keys[k]] = t;
    }
    n.attrs.in = n.params["weight"].size(0);
    n.attrs.eps = onnx_attr_float(nd, "epsilon", 1e-5);
    n.attrs.momentum = 1.0 - onnx_attr_float(nd, "momentum", 0.9); // ONNX keeps 1 - PyTorch's momentum
    if (probe_[from].dim() < 2 || probe_[from].size(1) != n.attrs.in) {
        node_fail(nd, "has " + std::to_string(n.attrs.in) + " channels, its input " + shape_text(probe_[from].sizes()));
    }
    push(nd, std::move(n));
}

void onnx_importer::flatten(const onnx::NodeProto & nd, int from) {
    if (probe_[from].dim() == 2) {
        alias(nd, from);
        return;
    }
    push(nd, make(nd, op_kind::flatten, from));
}

void onnx_importer::reshape(const onnx::NodeProto & nd) {
    const int from = input_node(nd, 0);
    const at::Tensor s = const_input(nd, 1).to(at::kLong).reshape({-1});
    const at::Tensor p = probe_[from];
    const int64_t feat = p.numel(); // per sample (batch of one)
    const bool ok = s.numel() == 2 && (s[0].item<int64_t>() == -1 || s[0].item<int64_t>() == 0 ||
                                       s[0].item<int64_t>() >= 1) &&
                    (s[1].item<int64_t>() == feat || (s[1].item<int64_t>() == -1 && s[0].item<int64_t>() != -1));
    if (!ok) {
        node_fail(nd, "only a reshape to [N, " + std::to_string(feat) + "] (a flatten) is supported, got shape " +
                          shape_text(std::vector<int64_t>(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel())));
    }
    flatten(nd, from);
}

void onnx_importer::pad(const onnx::NodeProto & nd) {
    const int from = input_node(nd, 0);
    if (onnx_attr_string(nd, "mode", "constant") != "constant") {
        node_fail(nd, "only constant padding is supported");
    }
    std::vector<int64_t> pads;
    double fill = 0;
    if (opset_ < 11) {
        pads = onnx_attr_ints(nd, "pads", {});
        fill = onnx_attr_float(nd, "value", 0.0);
    } else {
        const at::Tensor t = const_input(nd, 1).to(at::kLong).reshape({-1});
        pads.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
        const at::Tensor v = const_input(nd, 2, true);
        fill = v.defined() ? v.to(at::kDouble).item<double>() : 0.0;
    }
    const int64_t r = probe_[from].dim();
    if (static_cast<int64_t>(pads.size()) != 2 * r || fill != 0.0) {
        node_fail(nd, "pads must cover every dim with value 0");
    }
    bool zero = true;
    for (int64_t p : pads) {
        zero &= p == 0;
        if (p < 0) { // opset >= 11: a negative pad crops
            node_fail(nd, "negative pads (cropping) are not supported");
        }
    }
    if (zero) {
        alias(nd, from);
        return;
    }
    if (r != 4 || pads[0] || pads[1] || pads[4] || pads[5] || pads[2] != pads[6] || pads[3] != pads[7]) {
        node_fail(nd, "only symmetric zero padding of H and W (folded into the next Conv / AveragePool) is supported");
    }
    // Recorded, and folded into the consumer (which must be a Conv or AveragePool).
    pending_pad_[nd.output(0)] = {pads[2], pads[3]};
    for (const auto & other : m_.graph().node()) {
        for (const auto & in : other.input()) {
            if (in == nd.output(0) && other.op_type() != "Conv" && other.op_type() != "AveragePool") {
                node_fail(nd, "a Pad is only supported right before Conv or AveragePool (read by '" + other.name() +
                                  "' (" + other.op_type() + "))");
            }
        }
    }
    values_[nd.output(0)] = onnx_value{from, {}};
}

// The shape computations x.view(x.size(0), -1) exports with a dynamic batch, evaluated on constants.
// Shape gives [0, C, H, W]: 0 stands for the batch dim, which is what 0 means in a Reshape's shape.
void onnx_importer::shape_arith(const onnx::NodeProto & nd) {
    const std::string & op = nd.op_type();
    at::Tensor out;
    if (op == "Shape") {
        if (onnx_attr(nd, "start") != nullptr || onnx_attr(nd, "end") != nullptr) { // opset 15 slicing
            node_fail(nd, "the start / end attributes are not supported");
        }
        const at::Tensor & p = probe_[input_node(nd, 0)];
        std::vector<int64_t> s(p.sizes().begin(), p.sizes().end());
        s[0] = 0;
        out = at::tensor(s, at::kLong);
    } else {
        std::vector<at::Tensor> in;
        for (int k = 0; k < nd.input_size(); ++k) {
            in.push_back(const_input(nd, k, true));
        }
        out = onnx_fold_shape_op(nd, in, opset_, where_);
    }
    values_[nd.output(0)].data = out;
}

} // namespace snnkit
