// snnkit/nn/forward.cpp: the ANN executor.
#include "snnkit/nn/forward.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/qcfs.h"

#include <ATen/core/grad_mode.h>

namespace snnkit {

namespace {

batch_norm_override & bn_override() {
    static batch_norm_override f;
    return f;
}

} // namespace

at::Tensor conv_layout(const at::Tensor & x) {
    if (x.dim() != 4 || x.size(1) < 2) {
        return x; // (one channel: both layouts are the same memory)
    }
    if (at::GradMode::is_enabled()) { // training: see conv_channels_last_min_positions
        return x.contiguous();
    }
    return x.size(2) * x.size(3) >= conv_channels_last_min_positions ? x.contiguous(at::MemoryFormat::ChannelsLast)
                                                                     : x.contiguous();
}

void set_batch_norm_override(batch_norm_override f) { bn_override() = std::move(f); }

local_batch_norm::local_batch_norm() : saved_(std::move(bn_override())) { bn_override() = {}; }

local_batch_norm::~local_batch_norm() { bn_override() = std::move(saved_); }

at::Tensor dropout_inverted(const at::Tensor & x, double p, const at::Generator & gen) {
    at::Tensor noise = at::empty_like(x);
    if (gen.defined()) {
        noise.bernoulli_(1.0 - p, gen);
    } else {
        noise.bernoulli_(1.0 - p);
    }
    noise.div_(1.0 - p); // p < 1 (graph check)
    return x * noise;
}

at::Tensor apply_op(const node & n, const std::vector<at::Tensor> & in, bool train, const at::Generator & dropout_gen) {
    const auto & a = n.attrs;
    const at::Tensor & x = in.at(0);
    switch (n.op) {
    case op_kind::conv2d:
        if (x.dim() != 4 || x.size(1) != a.in) {
            fail("layer '" + n.name + "'", "conv2d expects [N, " + std::to_string(a.in) + ", H, W] input, got " +
                                                std::to_string(x.dim()) + "-d with " +
                                                std::to_string(x.dim() > 1 ? x.size(1) : 0) + " channels");
        }
        // the output in the rule's layout too: a one-channel input leaves it contiguous, and the BatchNorm,
        // activations and pools after a wide convolution run faster channels last as well
        return conv_layout(at::conv2d(conv_layout(x), n.tensor("weight"), n.tensor("bias"), a.stride, a.padding,
                                      a.dilation, a.groups));
    case op_kind::linear:
        if (x.dim() != 2 || x.size(1) != a.in) {
            fail("layer '" + n.name + "'", "linear expects [N, " + std::to_string(a.in) + "] input");
        }
        return at::linear(x, n.tensor("weight"), n.tensor("bias"));
    case op_kind::avg_pool:
        return at::avg_pool2d(x, a.kernel, a.stride, a.padding, false, a.count_include_pad);
    case op_kind::max_pool:
        return at::max_pool2d(x, a.kernel, a.stride, a.padding);
    case op_kind::global_avg_pool:
        return x.mean({2, 3}, true);
    case op_kind::flatten:
        return x.flatten(1);
    case op_kind::relu:
        return at::relu(x);
    case op_kind::clip_relu:
        return at::clamp(x, 0.0, a.clip);
    case op_kind::qcfs:
        return qcfs_activation(x, n.tensor("lambda"), a.levels);
    case op_kind::batch_norm:
        if (train && bn_override()) {
            return bn_override()(n, x);
        }
        return at::batch_norm(x, n.tensor("weight"), n.tensor("bias"), n.tensor("running_mean"),
                              n.tensor("running_var"), train, a.momentum, a.eps, true);
    case op_kind::dropout:
        return train && a.p > 0 ? dropout_inverted(x, a.p, dropout_gen) : x;
    case op_kind::add: {
        at::Tensor s = in[0];
        for (size_t i = 1; i < in.size(); ++i) {
            if (in[i].sizes() != s.sizes()) {
                fail("layer '" + n.name + "'", "residual add of tensors with different shapes");
            }
            s = s + in[i];
        }
        return s;
    }
    case op_kind::input:
    case op_kind::spike:
        break;
    }
    fail("layer '" + n.name + "'", "op " + op_to_string(n.op) + " is not a stateless op");
}

at::Tensor ann_forward(const graph & g, const at::Tensor & x, const forward_options & opt) {
    const int last = opt.stop_at < 0 ? static_cast<int>(g.nodes.size()) - 1 : opt.stop_at;
    if (x.dim() != static_cast<int64_t>(g.input_shape.size()) + 1 ||
        x.sizes().slice(1).vec() != g.input_shape) {
        std::string want = "[N";
        for (auto s : g.input_shape) {
            want += ", " + std::to_string(s);
        }
        fail("input", "expected a batch of shape " + want + "], got " + std::to_string(x.dim()) + "-d tensor");
    }
    const std::vector<int> total = g.consumer_counts(); // readers of each node's output in the whole graph
    std::vector<int> uses = total;                      // readers still to run
    std::vector<at::Tensor> out(g.nodes.size());
    std::vector<at::Tensor> in;
    for (int i = 0; i <= last; ++i) {
        const node & n = g.nodes[i];
        if (n.op == op_kind::input) {
            out[i] = x;
        } else if (n.op == op_kind::spike) {
            fail("layer '" + n.name + "'", "spiking neuron in an ANN forward pass (run the model as an SNN)");
        } else {
            in.clear();
            for (int j : n.inputs) {
                in.push_back(out[j]);
            }
            // Training without an observer: a ReLU whose input feeds nothing else (no reader before or after it:
            // an earlier one may hold a view, e.g. flatten or a p = 0 dropout) and is not needed by its
            // producer's backward (conv, linear, BN, add, pooling keep their inputs, not outputs) runs in
            // place, saving one activation-sized allocation and pass per layer.
            const int src = n.inputs.empty() ? -1 : n.inputs[0];
            const op_kind pop = src > 0 ? g.nodes[src].op : op_kind::input;
            const bool inplace_ok = opt.train && !opt.observer && n.op == op_kind::relu && src > 0 && total[src] == 1 &&
                                    (pop == op_kind::batch_norm || pop == op_kind::conv2d || pop == op_kind::linear ||
                                     pop == op_kind::add || pop == op_kind::avg_pool || pop == op_kind::global_avg_pool);
            out[i] = inplace_ok ? at::relu_(in[0]) : apply_op(n, in, opt.train, opt.dropout_generator);
            for (int j : n.inputs) {
                if (--uses[j] == 0 && j != last) {
                    out[j] = at::Tensor(); // free as soon as the last consumer ran
                }
            }
        }
        if (opt.observer) {
            opt.observer(i, n, out[i]);
        }
    }
    return out[last];
}

} // namespace snnkit
