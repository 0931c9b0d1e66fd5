// snnkit/interop/onnx_import.cpp: ONNX ModelProto -> snnkit graph (see onnx_import.h for the op map).
#include "snnkit/interop/onnx_import.h"
#include "snnkit/interop/onnx_proto.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/forward.h"

#if !defined(ONNX_ML) && __has_include(<onnx/onnx-ml.pb.h>)
#define ONNX_ML 1 // Debian's libonnx-dev ships the ML variant of the protobuf classes (CMake's target sets it too)
#endif
#include <onnx/onnx_pb.h>

#include <ATen/core/grad_mode.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

namespace snnkit {

namespace {

constexpr int64_t kMinOpset = 9;
constexpr int64_t kMaxOpset = 17;

// An ONNX value: the output of an snnkit node, or constant data (initializer / Constant / folded).
struct value {
    int node = -1;
    at::Tensor data;
};

class importer {
public:
    importer(const onnx::ModelProto & m, std::string where) : m_(m), where_(std::move(where)) {}

    graph run() {
        at::NoGradGuard ng;
        check_opset();
        const onnx::GraphProto & gp = m_.graph();
        for (const auto & t : gp.initializer()) {
            values_[t.name()].data = onnx_tensor(t, where_);
        }
        add_input(gp);
        for (const auto & nd : gp.node()) {
            add_node(nd);
        }
        if (gp.output_size() != 1) {
            fail(where_, "the graph has " + std::to_string(gp.output_size()) + " outputs (exactly one is supported)");
        }
        const std::string & out = gp.output(0).name();
        const value & v = get(out, "graph output");
        if (v.node != static_cast<int>(g_.nodes.size()) - 1) {
            fail(where_, "graph output '" + out + "' is not the last computed layer");
        }
        const at::Tensor & p = probe_[v.node];
        if (p.dim() != 2) {
            fail(where_, "graph output '" + out + "' has shape " + shape_text(p.sizes().slice(1)) +
                             " per sample (expected [classes])");
        }
        g_.num_classes = p.size(1);
        g_.arch = "onnx";
        g_.validate();
        return std::move(g_);
    }

private:
    const onnx::ModelProto & m_;
    std::string where_;
    graph g_;
    std::vector<at::Tensor> probe_; // each node's output on a zero batch of one (shapes)
    std::map<std::string, value> values_;
    std::set<std::string> names_;
    int64_t opset_ = 0;

    // --- helpers -----------------------------------------------------------------------------

    [[noreturn]] void node_fail(const onnx::NodeProto & nd, const std::string & why) const {
        fail(where_, "node '" + nd.name() + "' (" + nd.op_type() + "): " + why);
    }

    void check_opset() {
        for (const auto & o : m_.opset_import()) {
            if (o.domain().empty() || o.domain() == "ai.onnx") {
                opset_ = o.version();
            }
        }
        if (opset_ == 0) {
            fail(where_, "no default-domain opset_import (not an ONNX model, or truncated)");
        }
        if (opset_ < kMinOpset || opset_ > kMaxOpset) {
            fail(where_, "opset " + std::to_string(opset_) + " is not supported (supported: " +
                             std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")");
        }
    }

    const value & get(const std::string & name, const std::string & what) const {
        auto it = values_.find(name);
        if (it == values_.end()) {
            fail(where_, what + " '" + name + "' is neither a graph input, an initializer nor a node output");
        }
        return it->second;
    }

    int input_node(const onnx::NodeProto & nd, int k) const {
        if (nd.input_size() <= k || nd.input(k).empty()) {
            node_fail(nd, "missing input " + std::to_string(k));
        }
        auto it = values_.find(nd.input(k));
        if (it == values_.end()) {
            node_fail(nd, "input '" + nd.input(k) + "' is not produced by any node (missing initializer?)");
        }
        if (it->second.node < 0) {
            node_fail(nd, "input '" + nd.input(k) + "' is a constant; a computed tensor is expected");
        }
        return it->second.node;
    }

    // Constant input k (initializer or Constant output); undefined when optional and absent.
    at::Tensor const_input(const onnx::NodeProto & nd, int k, bool optional = false) const {
        if (nd.input_size() <= k || nd.input(k).empty()) {
            if (optional) {
                return {};
            }
            node_fail(nd, "missing input " + std::to_string(k));
        }
        auto it = values_.find(nd.input(k));
        if (it == values_.end()) {
            node_fail(nd, "input '" + nd.input(k) + "' is missing (no initializer or node produces it)");
        }
        if (!it->second.data.defined()) {
            node_fail(nd, "input '" + nd.input(k) + "' must be a constant (initializer), not a computed tensor");
        }
        return it->second.data;
    }

    std::string unique_name(std::string base) {
        for (char & c : base) {
            if (c == '/' || c == ':' || c == ' ') {
                c = '.';
            }
        }
        while (!base.empty() && base.front() == '.') {
            base.erase(base.begin());
        }
        if (base.empty()) {
            base = "node";
        }
        std::string name = base;
        for (int k = 1; !names_.insert(name).second; ++k) {
            name = base + "_" + std::to_string(k);
        }
        return name;
    }

    // Name for a node: its weight initializer's prefix ("conv1.weight" -> "conv1") if any, else the
    // ONNX node name, else the op type.
    std::string name_for(const onnx::NodeProto & nd, int weight_input = -1) {
        if (weight_input >= 0 && nd.input_size() > weight_input) {
            std::string w = nd.input(weight_input);
            const std::string suffix = ".weight";
            if (w.size() > suffix.size() && w.compare(w.size() - suffix.size(), suffix.size(), suffix) == 0) {
                return unique_name(w.substr(0, w.size() - suffix.size()));
            }
        }
        // PyTorch names nodes "/<module path>/<Op>[_k]": "<module>.<op>", e.g. "features.2.relu".
        const std::string & full = nd.name().empty() ? nd.op_type() : nd.name();
        const size_t slash = full.rfind('/');
        std::string op = full.substr(slash == std::string::npos ? 0 : slash + 1);
        for (char & c : op) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        std::string module;
        if (slash != std::string::npos && slash > 0) {
            const size_t prev = full.rfind('/', slash - 1);
            module = full.substr(prev == std::string::npos ? 0 : prev + 1, slash - (prev == std::string::npos ? 0 : prev + 1));
        }
        return unique_name(module.empty() ? op : module + "." + op);
    }

    // Appends node n (inputs set), computes its probe output, maps ONNX output 0 to it.
    int push(const onnx::NodeProto & nd, node n) {
        std::vector<at::Tensor> in;
        for (int i : n.inputs) {
            in.push_back(probe_[i]);
        }
        at::Tensor out;
        try {
            out = apply_op(n, in, false);
        } catch (const std::exception & e) {
            std::string why = e.what();
            why = why.substr(0, why.find('\n')); // ATen messages carry a backtrace after the first line
            node_fail(nd, "does not fit its input shape: " + why);
        }
        g_.nodes.push_back(std::move(n));
        probe_.push_back(out);
        const int idx = static_cast<int>(g_.nodes.size()) - 1;
        values_[nd.output(0)] = value{idx, {}};
        return idx;
    }

    void alias(const onnx::NodeProto & nd, int from) { values_[nd.output(0)] = value{from, {}}; }

    // How many nodes (and graph outputs) read ONNX value `name`.
    int readers(const std::string & name) const {
        int k = 0;
        for (const auto & other : m_.graph().node()) {
            for (const auto & in : other.input()) {
                k += in == name;
            }
        }
        for (const auto & o : m_.graph().output()) {
            k += o.name() == name;
        }
        return k;
    }

    // Symmetric 2-D pads [top, left, bottom, right] -> (h, w).
    std::array<int64_t, 2> sym_pads(const onnx::NodeProto & nd) const {
        const std::string auto_pad = onnx_attr_string(nd, "auto_pad", "NOTSET");
        if (auto_pad != "NOTSET" && auto_pad != "VALID") {
            node_fail(nd, "auto_pad " + auto_pad + " is not supported (export with explicit pads)");
        }
        const auto p = onnx_attr_ints(nd, "pads", {0, 0, 0, 0});
        if (p.size() != 4 || p[0] != p[2] || p[1] != p[3]) {
            node_fail(nd, "only symmetric 2-D pads are supported");
        }
        return {p[0], p[1]};
    }

    std::array<int64_t, 2> pair(const onnx::NodeProto & nd, const std::string & name, int64_t def) const {
        const auto v = onnx_attr_ints(nd, name, {def, def});
        if (v.size() != 2) {
            node_fail(nd, "attribute " + name + " must have 2 values (2-D only)");
        }
        return {v[0], v[1]};
    }

    // --- graph input -------------------------------------------------------------------------

    void add_input(const onnx::GraphProto & gp) {
        const onnx::ValueInfoProto * in = nullptr;
        for (const auto & vi : gp.input()) {
            if (values_.count(vi.name()) == 0) { // initializers may be listed as inputs too (opset < 10)
                if (in != nullptr) {
                    fail(where_, "the graph has more than one non-initializer input ('" + in->name() + "', '" +
                                     vi.name() + "')");
                }
                in = &vi;
            }
        }
        if (in == nullptr) {
            fail(where_, "the graph has no input");
        }
        const auto & tt = in->type().tensor_type();
        if (tt.elem_type() != onnx::TensorProto::FLOAT) {
            fail(where_, "input '" + in->name() + "' must be float32");
        }
        if (!tt.has_shape() || (tt.shape().dim_size() != 4 && tt.shape().dim_size() != 2)) {
            fail(where_, "input '" + in->name() + "' must have a known rank 4 [N, C, H, W] or 2 [N, F] shape");
        }
        std::vector<int64_t> shape;
        for (int k = 1; k < tt.shape().dim_size(); ++k) {
            const auto & d = tt.shape().dim(k);
            if (!d.has_dim_value() || d.dim_value() <= 0) {
                fail(where_, "input '" + in->name() + "' dim " + std::to_string(k) + " is dynamic ('" + d.dim_param() +
                                 "'); every dim but the batch must be static");
            }
            shape.push_back(d.dim_value());
        }
        g_.input_shape = shape;
        node n;
        n.name = "input";
        n.op = op_kind::input;
        names_.insert(n.name);
        g_.nodes.push_back(n);
        std::vector<int64_t> full{1};
        full.insert(full.end(), shape.begin(), shape.end());
        probe_.push_back(at::zeros(full));
        values_[in->name()] = value{0, {}};
    }

    // --- ops ---------------------------------------------------------------------------------

    void add_node(const onnx::NodeProto & nd) {
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

    node make(const onnx::NodeProto & nd, op_kind op, int from, int weight_input = -1) {
        node n;
        n.name = name_for(nd, weight_input);
        n.op = op;
        n.inputs = {from};
        return n;
    }

    void conv(const onnx::NodeProto & nd) {
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
    void take_pad(const onnx::NodeProto & nd, node & n) {
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

    void gemm(const onnx::NodeProto & nd) {
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

    void matmul(const onnx::NodeProto & nd) {
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

    void add(const onnx::NodeProto & nd) {
        if (nd.input_size() != 2) {
            node_fail(nd, "expects 2 inputs");
        }
        const value & x = get(nd.input(0), "input");
        const value & y = get(nd.input(1), "input");
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
        const std::string & src_name = nd.input(x.node >= 0 ? 0 : 1);
        if ((s.op != op_kind::linear && s.op != op_kind::conv2d) || readers(src_name) != 1 ||
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

    void clip(const onnx::NodeProto & nd) {
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
                   readers(nd.input(0)) == 1) {
            src.op = op_kind::clip_relu; // Relu then Clip(max c), as F.relu6 exports: one clipped ReLU
            src.attrs.clip = hi;
            probe_[from] = apply_op(src, {probe_[src.inputs[0]]}, false);
            alias(nd, from);
        } else {
            node_fail(nd, "only Clip(0, c), or Clip(max c) right after a Relu, is supported (min " + std::to_string(lo) + ")");
        }
    }

    void pool(const onnx::NodeProto & nd) {
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

    void batch_norm(const onnx::NodeProto & nd) {
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

    void flatten(const onnx::NodeProto & nd, int from) {
        if (probe_[from].dim() == 2) {
            alias(nd, from);
            return;
        }
        push(nd, make(nd, op_kind::flatten, from));
    }

    void reshape(const onnx::NodeProto & nd) {
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

    void pad(const onnx::NodeProto & nd) {
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
        values_[nd.output(0)] = value{from, {}};
    }

    // The shape computations x.view(x.size(0), -1) exports with a dynamic batch, evaluated on constants.
    // Shape gives [0, C, H, W]: 0 stands for the batch dim, which is what 0 means in a Reshape's shape.
    void shape_arith(const onnx::NodeProto & nd) {
        const std::string & op = nd.op_type();
        at::Tensor out;
        if (op == "Shape") {
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

    std::map<std::string, std::array<int64_t, 2>> pending_pad_;
};

} // namespace

graph import_onnx_bytes(const std::string & bytes, const std::string & where) {
    onnx::ModelProto m;
    if (bytes.empty()) {
        fail(where, "empty file");
    }
    if (!m.ParseFromString(bytes)) {
        fail(where, "not a valid ONNX model (protobuf parsing failed: truncated or corrupt file)");
    }
    if (!m.has_graph() || m.graph().node_size() == 0) {
        fail(where, "the ONNX model has no graph nodes (truncated or not a model)");
    }
    // A tensor operation LibTorch refuses (a shape or dtype the checks of the importer missed) is still one
    // error line naming the file, not a c10::Error (fuzz_onnx found a Clip with a two-element min).
    try {
        return importer(m, where).run();
    } catch (const c10::Error & e) {
        fail(where, "invalid tensor data or shapes: " + first_line(e.what_without_backtrace()));
    }
}

graph import_onnx(const std::string & path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        fail(path, "cannot open");
    }
    std::ostringstream s;
    s << f.rdbuf();
    return import_onnx_bytes(s.str(), path);
}

} // namespace snnkit
