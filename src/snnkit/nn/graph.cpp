// snnkit/nn/graph.cpp: graph bookkeeping, validation and the seeded builder.
#include "snnkit/nn/graph.h"

#include "snnkit/core/error.h"
#include "snnkit/core/shape_text.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <set>

namespace snnkit {

namespace {

struct op_name {
    op_kind op;
    const char * name;
};

const op_name k_op_names[] = {
    {op_kind::input, "input"},          {op_kind::conv2d, "conv2d"},
    {op_kind::linear, "linear"},        {op_kind::avg_pool, "avg_pool"},
    {op_kind::max_pool, "max_pool"},    {op_kind::global_avg_pool, "global_avg_pool"},
    {op_kind::flatten, "flatten"},      {op_kind::relu, "relu"},
    {op_kind::clip_relu, "clip_relu"},  {op_kind::batch_norm, "batch_norm"},
    {op_kind::dropout, "dropout"},      {op_kind::add, "add"},
    {op_kind::spike, "spike"},          {op_kind::qcfs, "qcfs"},
};

} // namespace

std::string op_to_string(op_kind op) {
    for (const auto & e : k_op_names) {
        if (e.op == op) {
            return e.name;
        }
    }
    return "unknown";
}

op_kind op_from_string(const std::string & name) {
    for (const auto & e : k_op_names) {
        if (name == e.name) {
            return e.op;
        }
    }
    fail("model", "unknown op '" + name + "'");
}

bool is_ann_activation(op_kind op) { return op == op_kind::relu || op == op_kind::clip_relu || op == op_kind::qcfs; }

at::Tensor node::tensor(const std::string & key) const {
    auto it = params.find(key);
    if (it != params.end()) {
        return it->second;
    }
    auto jt = buffers.find(key);
    return jt != buffers.end() ? jt->second : at::Tensor();
}

int graph::find(const std::string & name) const {
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].name == name) {
            return static_cast<int>(i);
        }
    }
    fail("graph", "no node named '" + name + "'");
}

std::vector<std::pair<std::string, at::Tensor>> graph::named_params() const {
    std::vector<std::pair<std::string, at::Tensor>> r;
    for (const auto & n : nodes) {
        for (const auto & kv : n.params) {
            r.emplace_back(n.name + "." + kv.first, kv.second);
        }
    }
    return r;
}

std::vector<std::pair<std::string, at::Tensor>> graph::named_tensors() const {
    std::vector<std::pair<std::string, at::Tensor>> r;
    for (const auto & n : nodes) {
        for (const auto & kv : n.params) {
            r.emplace_back(n.name + "." + kv.first, kv.second);
        }
        for (const auto & kv : n.buffers) {
            r.emplace_back(n.name + "." + kv.first, kv.second);
        }
    }
    return r;
}

std::vector<int> graph::consumer_counts() const {
    std::vector<int> c(nodes.size(), 0);
    for (const auto & n : nodes) {
        for (int i : n.inputs) {
            c[i]++;
        }
    }
    return c;
}

void graph::validate() const {
    if (nodes.empty() || nodes[0].op != op_kind::input) {
        fail("graph", "node 0 must be the input");
    }
    if (input_shape.empty()) {
        fail("graph", "input shape is empty");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < nodes.size(); ++i) {
        const node & n = nodes[i];
        const std::string where = "layer '" + n.name + "' (" + op_to_string(n.op) + ")";
        if (n.name.empty() || !names.insert(n.name).second) {
            fail(where, "node names must be unique and non-empty");
        }
        if (i > 0 && n.op == op_kind::input) {
            fail(where, "only node 0 may be the input");
        }
        for (int j : n.inputs) {
            if (j < 0 || static_cast<size_t>(j) >= i) {
                fail(where, "input index " + std::to_string(j) + " is not an earlier node");
            }
        }
        const size_t want_inputs = n.op == op_kind::input ? 0 : (n.op == op_kind::add ? n.inputs.size() : 1);
        if (n.inputs.size() != want_inputs || (n.op == op_kind::add && n.inputs.size() < 2)) {
            fail(where, "wrong number of inputs (" + std::to_string(n.inputs.size()) + ")");
        }
        for (const auto * m : {&n.params, &n.buffers}) {
            for (const auto & kv : *m) {
                if (!kv.second.defined()) {
                    fail(where, "tensor '" + kv.first + "' is undefined");
                }
            }
        }
        const at::Tensor w = n.tensor("weight");
        const at::Tensor b = n.tensor("bias");
        const auto & a = n.attrs;
        switch (n.op) {
        case op_kind::conv2d: {
            if (!w.defined() || w.dim() != 4) {
                fail(where, "weight must be 4-d [out, in/groups, kh, kw]");
            }
            if (a.groups < 1 || a.in % a.groups != 0 || a.out % a.groups != 0) {
                fail(where, "groups " + std::to_string(a.groups) + " must divide in and out channels");
            }
            const std::vector<int64_t> want{a.out, a.in / a.groups, a.kernel[0], a.kernel[1]};
            if (w.sizes().vec() != want) {
                fail(where, "weight shape " + shape_text(w.sizes()) + " does not match attributes " + shape_text(want));
            }
            if (b.defined() && (b.dim() != 1 || b.size(0) != a.out)) {
                fail(where, "bias shape " + shape_text(b.sizes()) + " should be [" + std::to_string(a.out) + "]");
            }
            break;
        }
        case op_kind::linear:
            if (!w.defined() || w.dim() != 2 || w.size(0) != a.out || w.size(1) != a.in) {
                fail(where, "weight shape must be [" + std::to_string(a.out) + ", " + std::to_string(a.in) + "]");
            }
            if (b.defined() && (b.dim() != 1 || b.size(0) != a.out)) {
                fail(where, "bias shape " + shape_text(b.sizes()) + " should be [" + std::to_string(a.out) + "]");
            }
            break;
        case op_kind::batch_norm:
            for (const char * k : {"weight", "bias", "running_mean", "running_var"}) {
                const at::Tensor t = n.tensor(k);
                if (!t.defined() || t.dim() != 1 || t.size(0) != a.in) {
                    fail(where, std::string(k) + " must be [" + std::to_string(a.in) + "]");
                }
            }
            break;
        case op_kind::avg_pool:
        case op_kind::max_pool:
            if (a.kernel[0] < 1 || a.kernel[1] < 1 || a.stride[0] < 1 || a.stride[1] < 1) {
                fail(where, "kernel and stride must be positive");
            }
            break;
        case op_kind::clip_relu:
            if (!(a.clip > 0) || !std::isfinite(a.clip)) {
                fail(where, "clip must be a positive finite number");
            }
            break;
        case op_kind::qcfs: {
            if (a.levels < 1) {
                fail(where, "levels must be at least 1, got " + std::to_string(a.levels));
            }
            const at::Tensor lam = n.tensor("lambda");
            if (!lam.defined() || lam.dim() != 0) {
                fail(where, "needs a scalar (0-d) tensor 'lambda'");
            }
            const double l = lam.item<double>();
            if (!(l > 0) || !std::isfinite(l)) {
                fail(where, "lambda must be a positive finite number, got " + std::to_string(l));
            }
            break;
        }
        case op_kind::dropout:
            if (!(a.p >= 0 && a.p < 1)) {
                fail(where, "p must be in [0, 1)");
            }
            break;
        case op_kind::spike:
            if (!n.tensor("v_th").defined()) {
                fail(where, "spiking neuron has no threshold v_th");
            }
            break;
        default:
            break;
        }
    }
}

graph graph::clone() const {
    graph g = *this;
    for (auto & n : g.nodes) {
        for (auto & kv : n.params) {
            kv.second = kv.second.detach().clone();
        }
        for (auto & kv : n.buffers) {
            kv.second = kv.second.detach().clone();
        }
    }
    return g;
}

void graph::remove_node(int i) {
    if (i <= 0 || static_cast<size_t>(i) >= nodes.size() || nodes[i].inputs.size() != 1) {
        fail("graph", "cannot remove node " + std::to_string(i));
    }
    const int src = nodes[i].inputs[0];
    nodes.erase(nodes.begin() + i);
    for (auto & n : nodes) {
        for (int & j : n.inputs) {
            j = j == i ? src : (j > i ? j - 1 : j);
        }
    }
}

// ---- builder -----------------------------------------------------------------------------------

namespace {

node named_node(const std::string & name, op_kind op) {
    node n;
    n.name = name;
    n.op = op;
    return n;
}

} // namespace

graph_builder::graph_builder(std::vector<int64_t> input_shape, int64_t num_classes, uint64_t seed)
    : gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {
    g_.input_shape = std::move(input_shape);
    g_.num_classes = num_classes;
    node in;
    in.name = "input";
    in.op = op_kind::input;
    g_.nodes.push_back(in);
}

int graph_builder::push(node n, int from) {
    n.inputs = {from < 0 ? last() : from};
    g_.nodes.push_back(std::move(n));
    return last();
}

// Convolutions: He (Kaiming) normal init with fan_out, as torchvision's ResNets and SNN_Calibration do;
// bias zero. Linear: PyTorch's default uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
int graph_builder::conv2d(const std::string & name, int64_t in, int64_t out, int64_t k, int64_t stride,
                          int64_t padding, bool bias, int64_t groups, int from) {
    node n;
    n.name = name;
    n.op = op_kind::conv2d;
    n.attrs.in = in;
    n.attrs.out = out;
    n.attrs.kernel = {k, k};
    n.attrs.stride = {stride, stride};
    n.attrs.padding = {padding, padding};
    n.attrs.groups = groups;
    const double std = std::sqrt(2.0 / static_cast<double>(k * k * out));
    n.params["weight"] = at::empty({out, in / groups, k, k}).normal_(0.0, std, gen_);
    if (bias) {
        n.params["bias"] = at::zeros({out});
    }
    return push(std::move(n), from);
}

int graph_builder::linear(const std::string & name, int64_t in, int64_t out, bool bias, int from) {
    node n = named_node(name, op_kind::linear);
    n.attrs.in = in;
    n.attrs.out = out;
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    n.params["weight"] = at::empty({out, in}).uniform_(-bound, bound, gen_);
    if (bias) {
        n.params["bias"] = at::empty({out}).uniform_(-bound, bound, gen_);
    }
    return push(std::move(n), from);
}

int graph_builder::batch_norm(const std::string & name, int64_t channels, int from) {
    node n = named_node(name, op_kind::batch_norm);
    n.attrs.in = channels;
    n.attrs.out = channels;
    n.params["weight"] = at::ones({channels});
    n.params["bias"] = at::zeros({channels});
    n.buffers["running_mean"] = at::zeros({channels});
    n.buffers["running_var"] = at::ones({channels});
    return push(std::move(n), from);
}

int graph_builder::relu(const std::string & name, int from) {
    node n = named_node(name, op_kind::relu);
    return push(std::move(n), from);
}

int graph_builder::clip_relu(const std::string & name, double clip, int from) {
    node n = named_node(name, op_kind::clip_relu);
    n.attrs.clip = clip;
    return push(std::move(n), from);
}

int graph_builder::qcfs(const std::string & name, int64_t levels, double lambda, int from) {
    node n = named_node(name, op_kind::qcfs);
    n.attrs.levels = levels;
    n.params["lambda"] = at::full({}, lambda, at::kFloat);
    return push(std::move(n), from);
}

int graph_builder::pool(op_kind op, const std::string & name, int64_t k, int64_t stride, int64_t padding, int from) {
    node n = named_node(name, op);
    n.attrs.kernel = {k, k};
    n.attrs.stride = {stride, stride};
    n.attrs.padding = {padding, padding};
    return push(std::move(n), from);
}

int graph_builder::avg_pool(const std::string & name, int64_t k, int64_t stride, int64_t padding, int from) {
    return pool(op_kind::avg_pool, name, k, stride, padding, from);
}

int graph_builder::max_pool(const std::string & name, int64_t k, int64_t stride, int64_t padding, int from) {
    return pool(op_kind::max_pool, name, k, stride, padding, from);
}

int graph_builder::global_avg_pool(const std::string & name, int from) {
    node n = named_node(name, op_kind::global_avg_pool);
    return push(std::move(n), from);
}

int graph_builder::flatten(const std::string & name, int from) {
    node n = named_node(name, op_kind::flatten);
    return push(std::move(n), from);
}

int graph_builder::dropout(const std::string & name, double p, int from) {
    node n = named_node(name, op_kind::dropout);
    n.attrs.p = p;
    return push(std::move(n), from);
}

int graph_builder::add(const std::string & name, std::vector<int> from) {
    node n = named_node(name, op_kind::add);
    n.inputs = std::move(from);
    g_.nodes.push_back(std::move(n));
    return last();
}

graph graph_builder::finish(const std::string & arch) {
    g_.arch = arch;
    g_.validate();
    return g_;
}

} // namespace snnkit
