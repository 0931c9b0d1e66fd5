// snnkit/io/model_io.cpp
#include "snnkit/io/model_io.h"

#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <type_traits>

namespace snnkit {

namespace {

using json = nlohmann::json;

const char * k_format = "snnkit-model";
const int k_version = 1;

std::string reset_to_string(reset_mode r) { return r == reset_mode::soft ? "soft" : "hard"; }

json attrs_to_json(const node & n) {
    const auto & a = n.attrs;
    json j = json::object();
    switch (n.op) {
    case op_kind::conv2d:
        j = {{"in", a.in},           {"out", a.out},         {"kernel", a.kernel},     {"stride", a.stride},
             {"padding", a.padding}, {"dilation", a.dilation}, {"groups", a.groups}};
        break;
    case op_kind::linear:
        j = {{"in", a.in}, {"out", a.out}};
        break;
    case op_kind::avg_pool:
        j = {{"kernel", a.kernel}, {"stride", a.stride}, {"padding", a.padding},
             {"count_include_pad", a.count_include_pad}};
        break;
    case op_kind::max_pool:
        j = {{"kernel", a.kernel}, {"stride", a.stride}, {"padding", a.padding}};
        break;
    case op_kind::batch_norm:
        j = {{"channels", a.in}, {"eps", a.eps}, {"momentum", a.momentum}};
        break;
    case op_kind::dropout:
        j = {{"p", a.p}};
        break;
    case op_kind::clip_relu:
        j = {{"clip", a.clip}};
        break;
    case op_kind::qcfs:
        j = {{"levels", a.levels}};
        break;
    case op_kind::spike:
        j = {{"alpha", a.neuron.alpha},
             {"reset", reset_to_string(a.neuron.reset)},
             {"detach_reset", a.neuron.detach_reset},
             {"spike_vth", a.neuron.spike_vth},
             {"surrogate", surrogate_to_string(a.neuron.surrogate.kind)},
             {"surrogate_param", a.neuron.surrogate.param},
             {"surrogate_width", a.neuron.surrogate.width}};
        break;
    default:
        break;
    }
    return j;
}

// nlohmann converts a JSON float to an integer type with a plain cast, which is undefined behaviour when
// the value is out of range (fuzz_model: 4.7e11 read as an int). Integer fields must hold JSON integers.
void require_integers(const json & v, const std::string & what, const std::string & where) {
    if (v.is_number_float()) {
        fail(where, what + " must be an integer, got " + v.dump());
    }
    if (v.is_array()) {
        for (const auto & e : v) {
            require_integers(e, what, where);
        }
    }
}

// Reads an integer field (or array of them) after require_integers.
template <typename T>
T get_integers(const json & v, const std::string & what, const std::string & where) {
    require_integers(v, what, where);
    return v.get<T>();
}

template <typename T>
T get_or(const json & j, const char * key, T dflt, const std::string & where) {
    if (!j.contains(key)) {
        return dflt;
    }
    // Only integer attributes (and integer arrays) get the float check; a float in a string or bool
    // attribute is a type error like any other.
    const bool integer_target = !std::is_floating_point<T>::value && !std::is_same<T, bool>::value &&
                                !std::is_same<T, std::string>::value;
    if (integer_target) {
        require_integers(j.at(key), std::string("attribute '") + key + "'", where);
    }
    try {
        return j.at(key).get<T>();
    } catch (const std::exception &) {
        fail(where, std::string("attribute '") + key + "' has the wrong type");
    }
}

void attrs_from_json(node & n, const json & j, const std::string & where) {
    auto & a = n.attrs;
    a.in = get_or<int64_t>(j, "in", get_or<int64_t>(j, "channels", 0, where), where);
    a.out = get_or<int64_t>(j, "out", a.in, where);
    a.kernel = get_or(j, "kernel", a.kernel, where);
    a.stride = get_or(j, "stride", a.stride, where);
    a.padding = get_or(j, "padding", a.padding, where);
    a.dilation = get_or(j, "dilation", a.dilation, where);
    a.groups = get_or<int64_t>(j, "groups", 1, where);
    a.eps = get_or(j, "eps", a.eps, where);
    a.momentum = get_or(j, "momentum", a.momentum, where);
    a.p = get_or(j, "p", a.p, where);
    a.clip = get_or(j, "clip", a.clip, where);
    a.levels = get_or<int64_t>(j, "levels", a.levels, where);
    a.count_include_pad = get_or(j, "count_include_pad", a.count_include_pad, where);
    if (n.op == op_kind::spike) {
        a.neuron.alpha = get_or(j, "alpha", 1.0, where);
        const std::string r = get_or<std::string>(j, "reset", "soft", where);
        if (r != "soft" && r != "hard") {
            fail(where, "reset must be soft or hard, got '" + r + "'");
        }
        a.neuron.reset = r == "soft" ? reset_mode::soft : reset_mode::hard;
        a.neuron.detach_reset = get_or(j, "detach_reset", false, where);
        a.neuron.spike_vth = get_or(j, "spike_vth", false, where);
        a.neuron.surrogate.kind = surrogate_from_string(get_or<std::string>(j, "surrogate", "atan", where));
        a.neuron.surrogate.param = get_or(j, "surrogate_param", 0.0, where);
        a.neuron.surrogate.width = get_or(j, "surrogate_width", 1.0, where);
        check_neuron_options(where, a.neuron);
    }
}

json graph_json(const graph & g) {
    json nodes = json::array();
    for (const auto & n : g.nodes) {
        json tensors = json::object();
        for (const auto & kv : n.params) {
            tensors[kv.first] = "param";
        }
        for (const auto & kv : n.buffers) {
            tensors[kv.first] = "buffer";
        }
        nodes.push_back({{"name", n.name},
                         {"op", op_to_string(n.op)},
                         {"inputs", n.inputs},
                         {"attrs", attrs_to_json(n)},
                         {"tensors", tensors}});
    }
    return {{"arch", g.arch}, {"input_shape", g.input_shape}, {"num_classes", g.num_classes}, {"nodes", nodes}};
}

// Builds nodes from JSON; records which tensors each node expects (param or buffer) in `kinds`.
graph graph_from(const json & j, const std::string & where,
                 std::vector<std::map<std::string, std::string>> * kinds) {
    graph g;
    try {
        g.arch = j.at("arch").get<std::string>();
        g.input_shape = get_integers<std::vector<int64_t>>(j.at("input_shape"), "'input_shape'", where);
        g.num_classes = get_integers<int64_t>(j.at("num_classes"), "'num_classes'", where);
        const json & nodes = j.at("nodes");
        if (!nodes.is_array()) {
            fail(where, "'nodes' must be an array");
        }
        for (const auto & jn : nodes) {
            node n;
            n.name = jn.at("name").get<std::string>();
            n.op = op_from_string(jn.at("op").get<std::string>());
            n.inputs = get_integers<std::vector<int>>(jn.at("inputs"), "layer '" + n.name + "': 'inputs'", where);
            attrs_from_json(n, jn.value("attrs", json::object()), where + ": layer '" + n.name + "'");
            std::map<std::string, std::string> k;
            if (jn.contains("tensors")) {
                k = jn.at("tensors").get<std::map<std::string, std::string>>();
            }
            kinds->push_back(k);
            g.nodes.push_back(std::move(n));
        }
    } catch (const snnkit::error &) {
        throw;
    } catch (const std::exception & e) {
        fail(where, std::string("malformed model description: ") + e.what());
    }
    return g;
}

} // namespace

std::string graph_to_json(const graph & g) { return graph_json(g).dump(1); }

graph graph_from_json(const std::string & text, const std::string & where) {
    json j;
    try {
        j = json::parse(text);
    } catch (const std::exception & e) {
        fail(where, std::string("not valid JSON: ") + e.what());
    }
    std::vector<std::map<std::string, std::string>> kinds;
    return graph_from(j, where, &kinds);
}

namespace {

// FNV-1a (64-bit) over every tensor's name, dtype, shape and bytes.
uint64_t weights_digest(const named_tensors & tensors) {
    uint64_t h = 0xcbf29ce484222325ull;
    const auto mix = [&h](const void * p, size_t n) {
        const auto * b = static_cast<const unsigned char *>(p);
        for (size_t i = 0; i < n; ++i) {
            h = (h ^ b[i]) * 0x100000001b3ull;
        }
    };
    for (const auto & kv : tensors) {
        mix(kv.first.data(), kv.first.size() + 1);
        const at::Tensor t = kv.second.detach().contiguous();
        const auto dtype = static_cast<int>(t.scalar_type());
        mix(&dtype, sizeof dtype);
        for (int64_t d : t.sizes()) {
            mix(&d, sizeof d);
        }
        mix(t.data_ptr(), t.nbytes());
    }
    return h;
}

} // namespace

void save_model(const std::string & dir, const graph & g, const model_meta & m) {
    g.validate();
    json meta;
    try {
        meta = json::parse(model_meta_to_json(m));
    } catch (const snnkit::error & e) { // an `extra` that is not a JSON object
        fail(dir, e.what());
    }
    make_dirs(dir);
    // One id in both files, a digest of the weights: a save interrupted between the two writes leaves new
    // weights beside an old description, which load_model then refuses instead of mixing them (and the same
    // weights give the same bytes, so resumed and uninterrupted runs still compare equal).
    const named_tensors tensors = g.named_tensors();
    for (const auto & kv : tensors) { // a model file never holds NaN/Inf (load_model refuses them): keep the old one
        if (at::isFloatingType(kv.second.scalar_type()) && !at::isfinite(kv.second).all().item<bool>()) {
            fail(dir, "tensor '" + kv.first + "' holds NaN or Inf; the model was not saved");
        }
    }
    char id[24];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(weights_digest(tensors)));
    json j = {{"format", k_format}, {"version", k_version}, {"save_id", id}, {"graph", graph_json(g)}, {"meta", meta}};
    // Weights first, then the description: a reader never sees a description without its weights.
    safetensors_save(dir + "/model.safetensors", tensors, {{"format", k_format}, {"save_id", id}});
    write_file_atomic(dir + "/model.json", j.dump(1) + "\n");
}

namespace {

graph load_model_checked(const std::string & dir, model_meta * meta) {
    const std::string jpath = dir + "/model.json";
    const std::string wpath = dir + "/model.safetensors";
    json j;
    try {
        j = json::parse(read_file(jpath));
    } catch (const snnkit::error &) {
        throw;
    } catch (const std::exception & e) {
        fail(jpath, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("format") || !j["format"].is_string() || j["format"].get<std::string>() != k_format) {
        fail(jpath, "not an snnkit model (format tag missing)");
    }
    if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int64_t>() != k_version) {
        fail(jpath, "unsupported model format version " + (j.contains("version") ? j["version"].dump() : std::string("(none)")));
    }
    if (!j.contains("graph")) {
        fail(jpath, "no 'graph' section");
    }
    std::vector<std::map<std::string, std::string>> kinds;
    graph g = graph_from(j["graph"], jpath, &kinds);
    std::map<std::string, std::string> wmeta;
    named_tensors tensors = safetensors_load(wpath, &wmeta);
    if (j.contains("save_id") && j["save_id"].is_string()) { // models saved before save ids are not checked
        const auto it = wmeta.find("save_id");
        if (it == wmeta.end() || it->second != j["save_id"].get<std::string>()) {
            fail(dir, "model.json and model.safetensors come from different saves (an interrupted save?)");
        }
    }
    std::map<std::string, at::Tensor> by_name(tensors.begin(), tensors.end());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        node & n = g.nodes[i];
        for (const auto & kv : kinds[i]) {
            auto it = by_name.find(n.name + "." + kv.first);
            if (it == by_name.end()) {
                fail(wpath, "layer '" + n.name + "': tensor '" + kv.first + "' is missing");
            }
            at::Tensor t = it->second;
            if (t.scalar_type() != at::kFloat) { // every snnkit model tensor is float32 (kernels assume it)
                fail(wpath, "layer '" + n.name + "': tensor '" + kv.first + "' is " + safetensors_dtype_name(t) +
                                "; snnkit models hold F32");
            }
            if (!at::isfinite(t).all().item<bool>()) {
                fail(wpath, "layer '" + n.name + "': tensor '" + kv.first + "' contains NaN or Inf");
            }
            (kv.second == "param" ? n.params : n.buffers)[kv.first] = t;
        }
    }
    try {
        g.validate();
    } catch (const snnkit::error & e) {
        fail(jpath, e.what());
    }
    if (meta) {
        *meta = model_meta_from_json(j.contains("meta") ? j["meta"].dump() : std::string("{}"), jpath);
    }
    return g;
}

} // namespace

graph load_model(const std::string & dir, model_meta * meta) {
    // The checks above name what is wrong; these two catch what they missed, so that a damaged file gives
    // one snnkit::error line and never a foreign exception (fuzz_model found a "format" that was an object).
    try {
        return load_model_checked(dir, meta);
    } catch (const json::exception & e) {
        fail(dir + "/model.json", std::string("malformed model description: ") + e.what());
    } catch (const c10::Error & e) {
        fail(dir, "invalid tensor data: " + first_line(e.what_without_backtrace()));
    }
}

} // namespace snnkit
