// snnkit/interop/onnx_proto.h: reading ONNX protobuf messages (internal to snnkit/interop; the onnx
// headers stay out of this one, so it installs without them).
#pragma once

#include "snnkit/core/shape_text.h"

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace onnx {
class AttributeProto;
class NodeProto;
class TensorProto;
} // namespace onnx

namespace snnkit {

// TensorProto -> CPU tensor (float32 for FLOAT / DOUBLE, int64 for INT64 / INT32; raw or typed data).
// Throws snnkit::error naming `where` and the tensor for external data, other types, size mismatches.
at::Tensor onnx_tensor(const onnx::TensorProto & t, const std::string & where);

// Node attributes by name (nullptr / the default when absent).
const onnx::AttributeProto * onnx_attr(const onnx::NodeProto & nd, const std::string & name);
int64_t onnx_attr_int(const onnx::NodeProto & nd, const std::string & name, int64_t def);
double onnx_attr_float(const onnx::NodeProto & nd, const std::string & name, double def);
std::vector<int64_t> onnx_attr_ints(const onnx::NodeProto & nd, const std::string & name, std::vector<int64_t> def);
std::string onnx_attr_string(const onnx::NodeProto & nd, const std::string & name, const std::string & def);

// Gather, Unsqueeze or Concat (node nd, opset) on constant int64 inputs `in`: the shape arithmetic
// PyTorch exports for x.view(x.size(0), -1). Throws snnkit::error naming the node for other forms.
at::Tensor onnx_fold_shape_op(const onnx::NodeProto & nd, const std::vector<at::Tensor> & in, int64_t opset,
                              const std::string & where);

} // namespace snnkit
