// snnkit/interop/onnx_import.h: import a CNN exported by PyTorch (torch.onnx.export) as an snnkit ANN graph.
//
// Parsed with the ONNX protobuf classes (onnx::ModelProto, Debian's libonnx-dev). Opsets 9 to 17. Op map:
//   Conv (groups, strides, symmetric pads, dilations)      -> conv2d
//   Gemm (transB, alpha, beta; transA = 0), MatMul (+ Add of an initializer) -> linear
//   Relu -> relu;  Clip(0, c), or Relu followed by Clip(max c) -> clip_relu (attribute or input form)
//   AveragePool, MaxPool, GlobalAveragePool -> pools;  BatchNormalization -> batch_norm
//   Add of two computed tensors -> add (residual);  Add of an initializer after conv/linear -> its bias
//   Flatten(axis 1), Reshape to [N, C*H*W] (shape as initializer or Constant) -> flatten
//   Pad (constant 0, symmetric spatial pads) -> folded into the next Conv / AveragePool
//   Identity, Dropout -> removed;  Constant -> read as data;  Shape / Gather / Unsqueeze / Concat on shapes
//   (x.view(x.size(0), -1) with a dynamic batch) -> evaluated at import
// Anything else throws snnkit::error naming the node, its op type and why. The input shape comes from the
// graph input's static dims (the batch dim may be dynamic).
#pragma once

#include "snnkit/nn/graph.h"

#include <string>

namespace snnkit {

// Reads an .onnx file into an ANN graph (arch "onnx"; node names from the initializers, e.g. "conv1").
// The graph has no activation statistics yet (see snnkit/nn/act_stats.h).
graph import_onnx(const std::string & path);

// Same from the serialised bytes; `where` names the source in errors.
graph import_onnx_bytes(const std::string & bytes, const std::string & where);

} // namespace snnkit
