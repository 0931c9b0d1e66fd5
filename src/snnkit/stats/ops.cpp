// snnkit/stats/ops.cpp
#include "snnkit/stats/ops.h"

#include "snnkit/core/error.h"
#include "snnkit/core/shape_text.h"

#include <ATen/core/grad_mode.h>

namespace snnkit {

namespace {

// The transparent op with every weight 1 (sum instead of mean): its transpose counts paths.
at::Tensor summing_op(const node & n, const at::Tensor & y) {
    const auto & a = n.attrs;
    switch (n.op) {
    case op_kind::avg_pool:
        return at::avg_pool2d(y, a.kernel, a.stride, a.padding, false, true, 1);
    case op_kind::global_avg_pool:
        return y.sum({2, 3}, true);
    case op_kind::flatten:
        return y.flatten(1);
    default:
        return y; // dropout: identity at inference
    }
}

} // namespace

bool is_transparent(op_kind op) {
    return op == op_kind::avg_pool || op == op_kind::global_avg_pool || op == op_kind::flatten || op == op_kind::dropout;
}

std::vector<std::vector<int64_t>> node_shapes(const graph & g) {
    std::vector<std::vector<int64_t>> s(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const node & n = g.nodes[i];
        const auto & a = n.attrs;
        const std::string where = "layer '" + n.name + "'";
        if (n.op == op_kind::input) {
            s[i] = g.input_shape;
            continue;
        }
        const std::vector<int64_t> & in = s.at(n.inputs.at(0));
        const bool spatial = n.op == op_kind::conv2d || n.op == op_kind::avg_pool || n.op == op_kind::max_pool ||
                             n.op == op_kind::global_avg_pool;
        if (spatial && in.size() != 3) {
            fail(where, op_to_string(n.op) + " needs a [C, H, W] input, got " + shape_text(in));
        }
        switch (n.op) {
        case op_kind::conv2d:
            if (in[0] != a.in) {
                fail(where, "conv2d expects " + std::to_string(a.in) + " input channels, got " + shape_text(in));
            }
            s[i] = {a.out, conv_out_extent(in[1], a.kernel[0], a.stride[0], a.padding[0], a.dilation[0]),
                    conv_out_extent(in[2], a.kernel[1], a.stride[1], a.padding[1], a.dilation[1])};
            break;
        case op_kind::avg_pool:
        case op_kind::max_pool:
            s[i] = {in[0], conv_out_extent(in[1], a.kernel[0], a.stride[0], a.padding[0], 1),
                    conv_out_extent(in[2], a.kernel[1], a.stride[1], a.padding[1], 1)};
            break;
        case op_kind::global_avg_pool:
            s[i] = {in[0], 1, 1};
            break;
        case op_kind::flatten: {
            int64_t f = 1;
            for (int64_t d : in) {
                f *= d;
            }
            s[i] = {f};
            break;
        }
        case op_kind::linear:
            if (in.size() != 1 || in[0] != a.in) {
                fail(where, "linear expects [" + std::to_string(a.in) + "] input, got " + shape_text(in));
            }
            s[i] = {a.out};
            break;
        default:
            s[i] = in;
        }
        for (int64_t d : s[i]) {
            if (d < 1) {
                fail(where, "output shape " + shape_text(s[i]) + " is empty (input " + shape_text(in) + ")");
            }
        }
    }
    return s;
}

int64_t node_macs(const graph & g, int i, const std::vector<std::vector<int64_t>> & shapes) {
    const node & n = g.nodes.at(i);
    const auto & a = n.attrs;
    if (n.op == op_kind::conv2d) {
        const auto & o = shapes.at(i);
        return o[0] * o[1] * o[2] * (a.in / a.groups) * a.kernel[0] * a.kernel[1];
    }
    if (n.op == op_kind::linear) {
        return a.in * a.out;
    }
    return 0;
}

int64_t ann_macs(const graph & g) {
    const auto shapes = node_shapes(g);
    int64_t total = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        total += node_macs(g, static_cast<int>(i), shapes);
    }
    return total;
}

at::Tensor conv_fanout(const node_attrs & a, const std::vector<int64_t> & in_shape) {
    at::AutoGradMode grad_on(true);
    // One channel with a kernel of ones: d/dx of the sum of its outputs counts the (output, tap) pairs
    // of every input position; each input channel feeds Cout/groups output channels alike.
    const at::Tensor x = at::zeros({1, 1, in_shape[1], in_shape[2]}, at::kDouble).requires_grad_(true);
    const at::Tensor w = at::ones({1, 1, a.kernel[0], a.kernel[1]}, at::kDouble);
    at::conv2d(x, w, {}, a.stride, a.padding, a.dilation, 1).sum().backward();
    const double per_channel = static_cast<double>(a.out / a.groups);
    return (x.grad()[0] * per_channel).expand({in_shape[0], in_shape[1], in_shape[2]}).contiguous();
}

namespace {

// Fan-out of every source neuron of layer l, through its chain of transparent ops.
at::Tensor layer_fanout(const graph & g, const synapse_layer & l, const std::vector<std::vector<int64_t>> & shapes) {
    at::AutoGradMode grad_on(true);
    std::vector<int64_t> xs{1};
    const auto & src = shapes[l.source];
    xs.insert(xs.end(), src.begin(), src.end());
    const at::Tensor x = at::zeros(xs, at::kDouble).requires_grad_(!l.chain.empty());
    at::Tensor y = x;
    for (int c : l.chain) {
        y = summing_op(g.nodes[c], y);
    }
    const node & n = g.nodes[l.node];
    at::Tensor seed;
    if (n.op == op_kind::conv2d) {
        std::vector<int64_t> in(y.sizes().begin() + 1, y.sizes().end());
        seed = conv_fanout(n.attrs, in).unsqueeze(0);
    } else if (n.op == op_kind::linear) {
        seed = at::full(y.sizes(), static_cast<double>(n.attrs.out), at::kDouble);
    } else {
        seed = at::ones(y.sizes(), at::kDouble);
    }
    if (l.chain.empty()) {
        return seed[0].contiguous();
    }
    (y * seed).sum().backward();
    return x.grad()[0].contiguous();
}

} // namespace

std::vector<synapse_layer> synapse_layers(const graph & g, bool input_events) {
    const auto shapes = node_shapes(g);
    const size_t n = g.nodes.size();
    std::vector<int> origin(n);
    std::vector<std::vector<int>> chain(n);
    std::vector<char> event(n, 0), temporal(n, 0);
    for (size_t i = 0; i < n; ++i) {
        const node & nd = g.nodes[i];
        temporal[i] = nd.op == op_kind::spike || (nd.op == op_kind::input && input_events);
        for (int j : nd.inputs) {
            temporal[i] |= temporal[j];
        }
        if (is_transparent(nd.op)) {
            origin[i] = origin[nd.inputs[0]];
            chain[i] = chain[nd.inputs[0]];
            chain[i].push_back(static_cast<int>(i));
        } else {
            origin[i] = static_cast<int>(i);
        }
        event[i] = nd.op == op_kind::spike || (nd.op == op_kind::input && input_events) ||
                   (nd.op == op_kind::max_pool && event[origin[nd.inputs[0]]]);
    }
    std::vector<synapse_layer> layers;
    enum class at_node { weights, add, pool };
    auto add_layer = [&](int k, int slot, int j, at_node kind) {
        synapse_layer l;
        l.slot = slot;
        l.source = origin[j];
        l.chain = chain[j];
        l.events = event[l.source];
        l.static_input = !temporal[l.source];
        l.node = k;
        if (kind == at_node::weights) {
            l.ann_macs = node_macs(g, k, shapes);
        } else if (kind == at_node::pool) { // a pool chain that ends without weights: its last pool accumulates
            for (int c : l.chain) {
                if (g.nodes[c].op == op_kind::avg_pool || g.nodes[c].op == op_kind::global_avg_pool) {
                    l.node = c;
                }
            }
        }
        if (l.events) {
            l.fanout = layer_fanout(g, l, shapes);
        }
        layers.push_back(std::move(l));
    };
    auto has_pool = [&](const std::vector<int> & ch) {
        for (int c : ch) {
            if (g.nodes[c].op == op_kind::avg_pool || g.nodes[c].op == op_kind::global_avg_pool) {
                return true;
            }
        }
        return false;
    };
    for (size_t k = 0; k < n; ++k) {
        const node & nd = g.nodes[k];
        for (size_t slot = 0; slot < nd.inputs.size(); ++slot) {
            const int j = nd.inputs[slot];
            if (nd.op == op_kind::conv2d || nd.op == op_kind::linear) {
                add_layer(static_cast<int>(k), static_cast<int>(slot), j, at_node::weights);
            } else if (nd.op == op_kind::add) {
                if (event[origin[j]]) {
                    add_layer(static_cast<int>(k), static_cast<int>(slot), j, at_node::add);
                }
            } else if (!is_transparent(nd.op) && event[origin[j]] && has_pool(chain[j])) {
                add_layer(static_cast<int>(k), static_cast<int>(slot), j, at_node::pool);
            }
        }
    }
    const int last = static_cast<int>(n) - 1;
    if (is_transparent(g.nodes[last].op) && event[origin[last]] && has_pool(chain[last])) {
        add_layer(last, 0, last, at_node::pool);
    }
    return layers;
}

} // namespace snnkit
