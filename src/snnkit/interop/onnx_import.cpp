// snnkit/interop/onnx_import.cpp: ONNX ModelProto -> snnkit graph (see onnx_import.h for the op map): the
// graph walk, the helpers of onnx_importer, and the public entry points. The ops are in onnx_import_ops.cpp.
#include "snnkit/interop/onnx_import.h"
#include "snnkit/interop/onnx_importer.h"
#include "snnkit/interop/onnx_proto.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/forward.h"

#if !defined(ONNX_ML) && __has_include(<onnx/onnx-ml.pb.h>)
#define ONNX_ML 1 // Debian's libonnx-dev ships the ML variant of the protobuf classes (CMake's target sets it too)
#endif
#include <onnx/onnx_pb.h>

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace snnkit {

namespace {

constexpr int64_t kMinOpset = 9;
constexpr int64_t kMaxOpset = 17;

} // namespace

graph onnx_importer::run() {
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
    const onnx_value & v = get(out, "graph output");
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

void onnx_importer::node_fail(const onnx::NodeProto & nd, const std::string & why) const {
    fail(where_, "node '" + nd.name() + "' (" + nd.op_type() + "): " + why);
}

void onnx_importer::check_opset() {
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

const onnx_value & onnx_importer::get(const std::string & name, const std::string & what) const {
    auto it = values_.find(name);
    if (it == values_.end()) {
        fail(where_, what + " '" + name + "' is neither a graph input, an initializer nor a node output");
    }
    return it->second;
}

int onnx_importer::input_node(const onnx::NodeProto & nd, int k) const {
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
at::Tensor onnx_importer::const_input(const onnx::NodeProto & nd, int k, bool optional) const {
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

std::string onnx_importer::unique_name(std::string base) {
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
std::string onnx_importer::name_for(const onnx::NodeProto & nd, int weight_input) {
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
int onnx_importer::push(const onnx::NodeProto & nd, node n) {
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
    values_[nd.output(0)] = onnx_value{idx, {}};
    return idx;
}

void onnx_importer::alias(const onnx::NodeProto & nd, int from) {
    values_[nd.output(0)] = onnx_value{from, {}};
}

int onnx_importer::value_readers(int n) const {
    int k = 0, names = 0;
    for (const auto & kv : values_) {
        if (kv.second.node == n) {
            k += readers(kv.first);
            ++names;
        }
    }
    return k - std::max(0, names - 1); // each extra name was made by one read of an earlier one
}

// How many nodes (and graph outputs) read ONNX value `name`.
int onnx_importer::readers(const std::string & name) const {
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
std::array<int64_t, 2> onnx_importer::sym_pads(const onnx::NodeProto & nd) const {
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

std::array<int64_t, 2> onnx_importer::pair(const onnx::NodeProto & nd, const std::string & name, int64_t def) const {
    const auto v = onnx_attr_ints(nd, name, {def, def});
    if (v.size() != 2) {
        node_fail(nd, "attribute " + name + " must have 2 values (2-D only)");
    }
    return {v[0], v[1]};
}

void onnx_importer::add_input(const onnx::GraphProto & gp) {
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
    values_[in->name()] = onnx_value{0, {}};
}

node onnx_importer::make(const onnx::NodeProto & nd, op_kind op, int from, int weight_input) {
    node n;
    n.name = name_for(nd, weight_input);
    n.op = op;
    n.inputs = {from};
    return n;
}

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
        return onnx_importer(m, where).run();
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
