// snnkit/interop/onnx_proto.cpp: reading ONNX protobuf messages (tensors, node attributes).
#include "snnkit/interop/onnx_proto.h"

#include "snnkit/core/error.h"

#if !defined(ONNX_ML) && __has_include(<onnx/onnx-ml.pb.h>)
#define ONNX_ML 1 // Debian's libonnx-dev ships the ML variant of the protobuf classes (CMake's target sets it too)
#endif
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstring>

namespace snnkit {

// TensorProto -> CPU tensor (float32 for floating types, int64 for integer types).
at::Tensor onnx_tensor(const onnx::TensorProto & t, const std::string & where) {
    if (t.data_location() == onnx::TensorProto::EXTERNAL) {
        fail(where, "tensor '" + t.name() + "' is stored in an external file (not supported)");
    }
    std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
    int64_t n = 1;
    for (int64_t d : dims) {
        if (d < 0) {
            fail(where, "tensor '" + t.name() + "' has a negative dimension");
        }
        if (d > 0 && n > (int64_t(1) << 40) / d) {
            fail(where, "tensor '" + t.name() + "' has an absurd shape " + shape_text(dims));
        }
        n *= d;
    }
    const std::string & raw = t.raw_data();
    auto from_raw = [&](at::ScalarType st, size_t elem) {
        if (raw.size() != static_cast<size_t>(n) * elem) {
            fail(where, "tensor '" + t.name() + "' has " + std::to_string(raw.size()) + " bytes of data, expected " +
                            std::to_string(static_cast<size_t>(n) * elem));
        }
        at::Tensor out = at::empty(dims, at::TensorOptions().dtype(st));
        if (n > 0) {
            std::memcpy(out.data_ptr(), raw.data(), raw.size());
        }
        return out;
    };
    auto check_count = [&](int64_t got) {
        if (got != n) {
            fail(where, "tensor '" + t.name() + "' has " + std::to_string(got) + " values, shape " +
                            shape_text(dims) + " needs " + std::to_string(n));
        }
    };
    switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
        if (!raw.empty() || n == 0) {
            return from_raw(at::kFloat, 4);
        } else {
            check_count(t.float_data_size());
            return at::tensor(std::vector<float>(t.float_data().begin(), t.float_data().end())).reshape(dims);
        }
    case onnx::TensorProto::DOUBLE:
        if (!raw.empty() || n == 0) {
            return from_raw(at::kDouble, 8).to(at::kFloat);
        } else {
            check_count(t.double_data_size());
            return at::tensor(std::vector<double>(t.double_data().begin(), t.double_data().end())).reshape(dims).to(at::kFloat);
        }
    case onnx::TensorProto::INT64:
        if (!raw.empty() || n == 0) {
            return from_raw(at::kLong, 8);
        } else {
            check_count(t.int64_data_size());
            return at::tensor(std::vector<int64_t>(t.int64_data().begin(), t.int64_data().end()), at::kLong).reshape(dims);
        }
    case onnx::TensorProto::INT32:
        if (!raw.empty() || n == 0) {
            return from_raw(at::kInt, 4).to(at::kLong);
        } else {
            check_count(t.int32_data_size());
            return at::tensor(std::vector<int64_t>(t.int32_data().begin(), t.int32_data().end()), at::kLong).reshape(dims);
        }
    default:
        fail(where, "tensor '" + t.name() + "' has unsupported data type " + std::to_string(t.data_type()));
    }
}

const onnx::AttributeProto * onnx_attr(const onnx::NodeProto & nd, const std::string & name) {
    for (const auto & a : nd.attribute()) {
        if (a.name() == name) {
            return &a;
        }
    }
    return nullptr;
}
int64_t onnx_attr_int(const onnx::NodeProto & nd, const std::string & name, int64_t def) {
    const auto * a = onnx_attr(nd, name);
    return a ? a->i() : def;
}
double onnx_attr_float(const onnx::NodeProto & nd, const std::string & name, double def) {
    const auto * a = onnx_attr(nd, name);
    return a ? a->f() : def;
}
std::vector<int64_t> onnx_attr_ints(const onnx::NodeProto & nd, const std::string & name, std::vector<int64_t> def) {
    const auto * a = onnx_attr(nd, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : def;
}
std::string onnx_attr_string(const onnx::NodeProto & nd, const std::string & name, const std::string & def) {
    const auto * a = onnx_attr(nd, name);
    return a ? a->s() : def;
}

at::Tensor onnx_fold_shape_op(const onnx::NodeProto & nd, const std::vector<at::Tensor> & in, int64_t opset,
                              const std::string & where) {
    auto bad = [&](const std::string & why) { fail(where, "node '" + nd.name() + "' (" + nd.op_type() + "): " + why); };
    for (const auto & t : in) {
        if (!t.defined()) {
            bad("inputs must be constants (shape arithmetic)");
        }
    }
    const std::string & op = nd.op_type();
    const size_t need = op == "Gather" || (op == "Unsqueeze" && opset >= 13) ? 2 : 1;
    if (in.size() < need) {
        bad("needs " + std::to_string(need) + " input(s), has " + std::to_string(in.size()));
    }
    at::Tensor out;
    if (op == "Gather") {
        const at::Tensor data = in.at(0).to(at::kLong), idx = in.at(1).to(at::kLong);
        if (data.dim() != 1 || onnx_attr_int(nd, "axis", 0) != 0) {
            bad("only Gather from a 1-D shape is supported");
        }
        const at::Tensor i = at::where(idx < 0, idx + data.size(0), idx);
        if (i.numel() > 0 && (i.min().item<int64_t>() < 0 || i.max().item<int64_t>() >= data.size(0))) {
            bad("index out of range");
        }
        out = data.index_select(0, i.reshape({-1})).reshape(idx.sizes());
    } else if (op == "Unsqueeze") {
        out = in.at(0).to(at::kLong);
        std::vector<int64_t> axes = onnx_attr_ints(nd, "axes", {});
        if (opset >= 13) {
            const at::Tensor a = in.at(1).to(at::kLong).reshape({-1});
            axes.assign(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
        }
        std::sort(axes.begin(), axes.end());
        for (int64_t ax : axes) {
            if (ax < 0 || ax > out.dim()) {
                bad("only non-negative in-range axes are supported");
            }
            out = out.unsqueeze(ax);
        }
    } else if (op == "Concat") {
        std::vector<at::Tensor> parts;
        for (const auto & t : in) {
            parts.push_back(t.to(at::kLong).reshape({-1}));
        }
        if (parts.empty() || onnx_attr_int(nd, "axis", 0) != 0) {
            bad("only Concat of 1-D shapes along axis 0 is supported");
        }
        out = at::cat(parts);
    } else {
        bad("not a shape op");
    }
    return out;
}

} // namespace snnkit
