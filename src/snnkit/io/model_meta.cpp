// snnkit/io/model_meta.cpp: one list of fields per struct (fields()), walked by a writer and a reader, so
// the two directions cannot drift apart.
#include "snnkit/io/model_meta.h"

#include "snnkit/core/error.h"

#include <nlohmann/json.hpp>

#include <limits>
#include <set>
#include <type_traits>

namespace snnkit {

namespace {

using json = nlohmann::json;

// A field written as null when unset (instead of being left out).
template <typename O>
struct or_null {
    O & v;
};
template <typename O>
or_null<O> nullable(O & v) {
    return {v};
}

template <typename M, typename F>
void fields(M & m, F & f, qcfs_train_meta *) {
    f("levels", m.levels);
    f("layers", m.layers);
    f("lambda_init", m.lambda_init);
    f("lambda_samples", m.lambda_samples);
    f("lambda_initial", m.lambda_initial);
    f("lambda_weight_decay", m.lambda_weight_decay);
    f.omit_empty("init", m.init);
}

template <typename M, typename F>
void fields(M & m, F & f, train_meta *) {
    f("epochs", m.epochs);
    f("batch_size", m.batch_size);
    f("optimizer", m.optimizer);
    f("lr", m.lr);
    f("lr_min", m.lr_min);
    f("weight_decay", m.weight_decay);
    f("momentum", m.momentum);
    f("nesterov", m.nesterov);
    f("schedule", m.schedule);
    f("label_smoothing", m.label_smoothing);
    f("dropout", m.dropout);
    f("seed", m.seed);
    f("augment", m.augment);
    f("threads", m.threads);
    f("eval_batch_size", m.eval_batch_size);
    f("clip", m.clip);
    f.omit_empty("act", m.act);
    f("qcfs", m.qcfs);
}

template <typename M, typename F>
void fields(M & m, F & f, dspike_adapt_meta *) {
    f("b0", m.b0);
    f("db", m.db);
    f("eps", m.eps);
    f("fdg_coords", m.fdg_coords);
    f("fdg_bn", m.fdg_bn);
}

template <typename M, typename F>
void fields(M & m, F & f, neuron_meta *) {
    f("neuron", m.neuron);
    f("alpha", m.alpha);
    f("learn_alpha", m.learn_alpha);
    f("learned_alpha", nullable(m.learned_alpha));
    f("v_th", m.v_th);
    f("reset", m.reset);
    f("detach_reset", m.detach_reset);
    f("surrogate", m.surrogate);
    f("surrogate_param", m.surrogate_param);
    f("dspike_adapt", m.dspike_adapt);
    f("dspike_adapt_settings", nullable(m.dspike_adapt_settings));
    f("final_surrogate_param", m.final_surrogate_param);
}

template <typename M, typename F>
void fields(M & m, F & f, metrics_meta *) {
    f("test_accuracy", m.test_accuracy);
    f("train_seconds", m.train_seconds);
    f("epochs", m.epochs);
}

template <typename M, typename F>
void fields(M & m, F & f, qcfs_conversion_meta *) {
    f("levels", m.levels);
    f("layers", m.layers);
    f("lambda", m.lambda);
    f("v_th", m.v_th);
    f("v0", m.v0);
    f("reset", m.reset);
}

template <typename M, typename F>
void fields(M & m, F & f, conversion_meta *) {
    f("T", m.T);
    f("threshold", m.threshold);
    f("channel_wise", m.channel_wise);
    f("bias_shift", m.bias_shift);
    f("half_init", m.half_init);
    f("calib", m.calib);
    f("threshold_search", m.threshold_search);
    f("bias_correction", m.bias_correction);
    f("potential_correction", m.potential_correction);
    f("weight_calibration", m.weight_calibration);
    f("calib_samples", m.calib_samples);
    f("memory_budget_mib", m.memory_budget_mib);
    f("calib_chunk_images", m.calib_chunk_images);
    f("wc_images", m.wc_images);
    f("wc_iters", m.wc_iters);
    f("wc_lr", m.wc_lr);
    f("qcfs", m.qcfs);
    f("source_train", m.source_train);
}

template <typename M, typename F>
void fields(M & m, F & f, layer_calibration_meta *) {
    f("layer", m.layer);
    f("v_th_before", m.v_th_before);
    f("v_th_after", m.v_th_after);
    f("mse_before", m.mse_before);
    f("mse_after", m.mse_after);
}

// An epoch entry: the trainer's keys; the others are the hook's note (the entry's `extra`).
template <typename M, typename F>
void fields(M & m, F & f, epoch_metrics *) {
    f("epoch", m.epoch);
    f("train_loss", m.train_loss);
    f("train_accuracy", m.train_accuracy);
    f("test_accuracy", m.test_accuracy);
    f("lr", m.lr);
    f("seconds", m.seconds);
}

// The top level: fields that were not recorded are left out.
template <typename M, typename F>
void fields(M & m, F & f, model_meta *) {
    f.omit_empty("kind", m.kind);
    f.omit_empty("source", m.source);
    f.omit_empty("onnx_file", m.onnx_file);
    f.omit_empty("dataset", m.dataset);
    f.omit_empty("classes", m.classes);
    f.preprocess(m.mean, m.std);
    f.omit_empty("T", m.T);
    f.omit_empty("stats_samples", m.stats_samples);
    f.omit_empty("source_model", m.source_model);
    f("init", m.init);
    f.omit_empty("dropout_mask", m.dropout_mask);
    f("train", m.train);
    f("neuron", m.neuron);
    f("metrics", m.metrics);
    f("source_metrics", m.source_metrics);
    f("conversion", m.conversion);
    f("calibration", m.calibration);
    f("calibration_seconds", m.calibration_seconds);
    f.omit_empty("history", m.history);
}

template <typename T>
using plain = std::remove_const_t<T>;

// The struct's unknown keys: `extra`, or an epoch's note ("" = none).
std::string & extra_of(model_meta & m) { return m.extra; }
std::string & extra_of(train_meta & m) { return m.extra; }
std::string & extra_of(qcfs_train_meta & m) { return m.extra; }
std::string & extra_of(dspike_adapt_meta & m) { return m.extra; }
std::string & extra_of(neuron_meta & m) { return m.extra; }
std::string & extra_of(metrics_meta & m) { return m.extra; }
std::string & extra_of(qcfs_conversion_meta & m) { return m.extra; }
std::string & extra_of(conversion_meta & m) { return m.extra; }
std::string & extra_of(layer_calibration_meta & m) { return m.extra; }
std::string & extra_of(epoch_metrics & m) { return m.note; }
template <typename S>
const std::string & extra_of(const S & m) {
    return extra_of(const_cast<S &>(m));
}

template <typename S>
constexpr bool is_struct = std::is_class<S>::value && !std::is_same<S, std::string>::value;

template <typename S>
json to_j(const S & s);

struct writer {
    json j = json::object();

    template <typename T>
    static json value(const T & v) {
        if constexpr (std::is_same<T, std::string>::value || !std::is_class<T>::value) {
            return v;
        } else if constexpr (std::is_same<T, std::vector<float>>::value || std::is_same<T, std::vector<std::string>>::value ||
                             std::is_same<T, std::map<std::string, double>>::value) {
            return v;
        } else if constexpr (std::is_same<T, std::vector<layer_calibration_meta>>::value ||
                             std::is_same<T, std::vector<epoch_metrics>>::value) {
            json a = json::array();
            for (const auto & e : v) {
                a.push_back(to_j(e));
            }
            return a;
        } else {
            return to_j(v);
        }
    }
    template <typename T>
    void operator()(const char * k, const T & v) {
        j[k] = value(v);
    }
    template <typename T>
    void operator()(const char * k, const std::optional<T> & v) {
        if (v) {
            j[k] = value(*v);
        }
    }
    template <typename T>
    void operator()(const char * k, const or_null<const std::optional<T>> & v) {
        j[k] = v.v ? value(*v.v) : json(nullptr);
    }
    template <typename T>
    void omit_empty(const char * k, const T & v) {
        bool empty = false;
        if constexpr (std::is_arithmetic<T>::value) {
            empty = v == 0;
        } else {
            empty = v.empty();
        }
        if (!empty) {
            j[k] = value(v);
        }
    }
    void preprocess(const std::vector<float> & mean, const std::vector<float> & std) {
        if (!mean.empty() || !std.empty()) {
            j["preprocess"] = {{"mean", mean}, {"std", std}};
        }
    }
};

template <typename S>
json to_j(const S & s) {
    writer w;
    fields(s, w, static_cast<plain<S> *>(nullptr));
    const std::string & extra = extra_of(s);
    if (!extra.empty()) {
        const json e = json::parse(extra, nullptr, false);
        if (!e.is_object()) {
            fail("model metadata", "'extra' (and an epoch's note) must be a JSON object, got: " + extra.substr(0, 80));
        }
        for (const auto & kv : e.items()) {
            if (!w.j.contains(kv.key())) { // a known field wins over a stale copy in extra
                w.j[kv.key()] = kv.value();
            }
        }
    }
    return w.j;
}

template <typename S>
void from_j(const json & j, S & s, const std::string & where, const std::string & path);

// Reads known keys into fields; `where` names the file, `path` the keys above this object ("train.").
struct reader {
    const json & j;
    std::string where, path;
    std::set<std::string> seen;

    [[noreturn]] static void type_error(const std::string & where, const std::string & at, const std::string & want,
                                        const json & v) {
        fail(where, "meta" + (at.empty() ? std::string() : " '" + at + "'") + " must be " + want + ", got " +
                        v.dump().substr(0, 80));
    }
    template <typename T>
    static void value(const json & v, T & out, const std::string & where, const std::string & at) {
        if constexpr (std::is_same<T, bool>::value) {
            if (!v.is_boolean()) {
                type_error(where, at, "true or false", v);
            }
            out = v.get<bool>();
        } else if constexpr (std::is_integral<T>::value) {
            // nlohmann casts a float to an integer type without a range check (undefined behaviour)
            if (!v.is_number_integer() || (std::is_unsigned<T>::value && !v.is_number_unsigned())) {
                type_error(where, at, std::is_unsigned<T>::value ? "a non-negative integer" : "an integer", v);
            }
            out = v.get<T>();
        } else if constexpr (std::is_floating_point<T>::value) {
            if (v.is_null()) { // how nlohmann writes NaN and Inf
                out = std::numeric_limits<T>::quiet_NaN();
                return;
            }
            if (!v.is_number()) {
                type_error(where, at, "a number", v);
            }
            out = v.get<T>();
        } else if constexpr (std::is_same<T, std::string>::value) {
            if (!v.is_string()) {
                type_error(where, at, "a string", v);
            }
            out = v.get<std::string>();
        } else if constexpr (std::is_same<T, std::map<std::string, double>>::value) {
            if (!v.is_object()) {
                type_error(where, at, "an object", v);
            }
            out.clear();
            for (const auto & kv : v.items()) {
                value(kv.value(), out[kv.key()], where, at + "." + kv.key());
            }
        } else if constexpr (is_struct<T> && !std::is_same<T, std::vector<float>>::value &&
                             !std::is_same<T, std::vector<std::string>>::value &&
                             !std::is_same<T, std::vector<layer_calibration_meta>>::value &&
                             !std::is_same<T, std::vector<epoch_metrics>>::value) {
            from_j(v, out, where, at);
        } else { // a vector
            if (!v.is_array()) {
                type_error(where, at, "an array", v);
            }
            out.clear();
            out.resize(v.size());
            for (size_t i = 0; i < v.size(); ++i) {
                value(v[i], out[i], where, at + "[" + std::to_string(i) + "]");
            }
        }
    }
    // Reads key k when present and not null; `into` makes the field to read into.
    template <typename T, typename Into>
    void read(const char * k, Into into) {
        seen.insert(k);
        if (j.contains(k) && !j[k].is_null()) {
            value<T>(j[k], into(), where, path + k);
        }
    }
    template <typename T>
    void operator()(const char * k, T & v) {
        read<T>(k, [&]() -> T & { return v; });
    }
    template <typename T>
    void operator()(const char * k, std::optional<T> & v) {
        read<T>(k, [&]() -> T & { return v.emplace(); });
    }
    template <typename T>
    void operator()(const char * k, const or_null<std::optional<T>> & v) {
        (*this)(k, v.v);
    }
    template <typename T>
    void omit_empty(const char * k, T & v) {
        (*this)(k, v);
    }
    void preprocess(std::vector<float> & mean, std::vector<float> & std) {
        seen.insert("preprocess");
        if (!j.contains("preprocess") || j["preprocess"].is_null()) {
            return;
        }
        const json & p = j["preprocess"];
        if (!p.is_object()) {
            type_error(where, path + "preprocess", "an object", p);
        }
        reader r{p, where, path + "preprocess.", {}};
        r("mean", mean);
        r("std", std);
        if (mean.size() != std.size()) {
            fail(where, "meta '" + path + "preprocess' has " + std::to_string(mean.size()) + " means and " +
                            std::to_string(std.size()) + " stds");
        }
    }
};

template <typename S>
void from_j(const json & j, S & s, const std::string & where, const std::string & path) {
    if (!j.is_object()) {
        reader::type_error(where, path, "a JSON object", j);
    }
    reader r{j, where, path.empty() ? path : path + ".", {}};
    fields(s, r, static_cast<S *>(nullptr));
    json extra = json::object();
    for (const auto & kv : j.items()) {
        if (r.seen.count(kv.key()) == 0) {
            extra[kv.key()] = kv.value();
        }
    }
    // an epoch without a note has "" (history_to_json merges nothing), every other struct "{}"
    extra_of(s) = extra.empty() && std::is_same<S, epoch_metrics>::value ? std::string() : extra.dump();
}

json parse_object(const std::string & text, const std::string & where, const char * what) {
    json j;
    try {
        j = json::parse(text.empty() ? std::string("{}") : text);
    } catch (const std::exception & e) {
        fail(where, std::string(what) + " is not valid JSON: " + e.what());
    }
    return j;
}

} // namespace

std::string model_meta_to_json(const model_meta & m) { return to_j(m).dump(); }

model_meta model_meta_from_json(const std::string & text, const std::string & where) {
    const json j = parse_object(text, where, "model metadata");
    if (!j.is_object()) {
        fail(where, "model metadata must be a JSON object, not " + std::string(j.type_name()));
    }
    model_meta m;
    from_j(j, m, where, "");
    return m;
}

int64_t model_time_steps(const model_meta & m, int64_t fallback) {
    if (m.T > 0) {
        return m.T;
    }
    if (m.conversion && m.conversion->T > 0) {
        return m.conversion->T;
    }
    return fallback;
}

std::string history_to_json(const std::vector<epoch_metrics> & history) { return writer::value(history).dump(); }

std::vector<epoch_metrics> history_from_json(const std::string & text, const std::string & where) {
    std::vector<epoch_metrics> h;
    reader::value(parse_object(text, where, "training history"), h, where, "history");
    return h;
}

} // namespace snnkit
