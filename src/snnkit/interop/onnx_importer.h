// snnkit/interop/onnx_importer.h: the ONNX graph walker behind import_onnx (internal to snnkit/interop).
//
// One onnx_importer turns one parsed ModelProto into an snnkit graph: onnx_import.cpp has the walk, the
// name / input / shape helpers and the public entry points; onnx_import_ops.cpp maps each ONNX op (the op
// map is in onnx_import.h). The onnx headers stay out of this one, like onnx_proto.h.
#pragma once

#include "snnkit/nn/graph.h"

#include <ATen/ATen.h>

#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace onnx {
class GraphProto;
class ModelProto;
class NodeProto;
} // namespace onnx

namespace snnkit {

// An ONNX value: the output of an snnkit node, or constant data (initializer / Constant / folded).
struct onnx_value {
    /// the snnkit node computing it, or -1 for constant data
    int node = -1;
    /// the constant (undefined for a computed value)
    at::Tensor data;
};

class onnx_importer {
public:
    onnx_importer(const onnx::ModelProto & m, std::string where) : m_(m), where_(std::move(where)) {}

    // Walks the graph once: initializers, the input, every node in order; checks the single output.
    graph run();

private:
    const onnx::ModelProto & m_;
    std::string where_;
    graph g_;
    std::vector<at::Tensor> probe_; // each node's output on a zero batch of one (shapes)
    std::map<std::string, onnx_value> values_;
    std::set<std::string> names_;
    int64_t opset_ = 0;
    std::map<std::string, std::array<int64_t, 2>> pending_pad_; // Pad outputs waiting for their Conv / AveragePool

    // --- helpers and the graph input (onnx_import.cpp) ----------------------------------------
    [[noreturn]] void node_fail(const onnx::NodeProto & nd, const std::string & why) const;
    void check_opset();
    const onnx_value & get(const std::string & name, const std::string & what) const;
    int input_node(const onnx::NodeProto & nd, int k) const;
    // Constant input k (initializer or Constant output); undefined when optional and absent.
    at::Tensor const_input(const onnx::NodeProto & nd, int k, bool optional = false) const;
    std::string unique_name(std::string base);
    // Name for a node: its weight initializer's prefix ("conv1.weight" -> "conv1") if any, else the
    // ONNX node name, else the op type.
    std::string name_for(const onnx::NodeProto & nd, int weight_input = -1);
    // Appends node n (inputs set), computes its probe output, maps ONNX output 0 to it.
    int push(const onnx::NodeProto & nd, node n);
    // Maps ONNX output 0 of nd to the existing node `from` (ops that vanish in snnkit).
    void alias(const onnx::NodeProto & nd, int from);
    // How many nodes (and graph outputs) read ONNX value `name`.
    int readers(const std::string & name) const;
    // How many ONNX nodes (and graph outputs) use snnkit node `n`'s value under any of its names: the reads of
    // every name mapped to it, less the reads by which ops that vanished (Identity, Dropout, ...) aliased it.
    int value_readers(int n) const;
    // Symmetric 2-D pads [top, left, bottom, right] -> (h, w).
    std::array<int64_t, 2> sym_pads(const onnx::NodeProto & nd) const;
    std::array<int64_t, 2> pair(const onnx::NodeProto & nd, const std::string & name, int64_t def) const;
    // The single non-initializer graph input: the input node, its per-sample shape, a zero probe.
    void add_input(const onnx::GraphProto & gp);
    // A node of kind op reading `from`, named by name_for (not yet appended).
    node make(const onnx::NodeProto & nd, op_kind op, int from, int weight_input = -1);

    // --- ops (onnx_import_ops.cpp) ------------------------------------------------------------
    void add_node(const onnx::NodeProto & nd);
    void conv(const onnx::NodeProto & nd);
    // Folds a preceding zero Pad into conv / avg-pool padding (the Pad node was recorded, not built).
    void take_pad(const onnx::NodeProto & nd, node & n);
    void gemm(const onnx::NodeProto & nd);
    void matmul(const onnx::NodeProto & nd);
    void add(const onnx::NodeProto & nd);
    void clip(const onnx::NodeProto & nd);
    void pool(const onnx::NodeProto & nd);
    void batch_norm(const onnx::NodeProto & nd);
    void flatten(const onnx::NodeProto & nd, int from);
    void reshape(const onnx::NodeProto & nd);
    void pad(const onnx::NodeProto & nd);
    // The shape computations x.view(x.size(0), -1) exports with a dynamic batch, evaluated on constants.
    // Shape gives [0, C, H, W]: 0 stands for the batch dim, which is what 0 means in a Reshape's shape.
    void shape_arith(const onnx::NodeProto & nd);
};

} // namespace snnkit
