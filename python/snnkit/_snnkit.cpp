// python/snnkit/_snnkit.cpp: the thin pybind11 layer over libsnnkit (module snnkit._snnkit).
//
// Tensors pass as they are (Debian's python3-torch and libsnnkit link the same libtorch_cpu, so no copy):
// the returned tensors carry the fused kernel's autograd node, which PyTorch's engine runs in backward.
// Everything Pythonic (modules, defaults, parameter mapping) lives in the .py files next to this one.
// snnkit::error (bad input) becomes snnkit.Error, a ValueError, with the library's one-line message.
#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron.h"
// ---- conversion (snnkit.convert / snnkit.SNN / snnkit.load): includes ----
#include "snnkit/convert/convert_job.h"
#include "snnkit/interop/nir_io.h"
#include "snnkit/interop/onnx_import.h"
#include "snnkit/io/model_io.h"
#include "snnkit/io/model_meta.h"
#include "snnkit/nn/input_check.h"
#include "snnkit/nn/snn_batch.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/nn/spike_conv_bf16.h"
#include "snnkit/nn/spike_gather.h"
#include "snnkit/stats/stats_json.h"
#include <filesystem>
#include <memory>
#include <mutex>
// ---- conversion: end of includes ----
#include "snnkit/neuron/surrogate.h"
#include "snnkit/train/train_job.h" // training block below

#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <functional>
#include <map>
#include <string>
#include <tuple>

namespace {

snnkit::reset_mode reset_from_string(const std::string & s) {
    if (s == "soft") return snnkit::reset_mode::soft;
    if (s == "hard") return snnkit::reset_mode::hard;
    snnkit::fail("snnkit.neuron_forward", "reset must be 'soft' or 'hard', got '" + s + "'");
}

std::tuple<at::Tensor, at::Tensor> neuron_forward(const at::Tensor & x, const at::Tensor & v_th,
                                                  const c10::optional<at::Tensor> & v0,
                                                  const c10::optional<at::Tensor> & alpha, double alpha_value,
                                                  const std::string & reset, bool detach_reset, bool spike_vth,
                                                  const std::string & surrogate, double surrogate_param,
                                                  double surrogate_width, int64_t repeat) {
    snnkit::neuron_options opt;
    opt.alpha = alpha_value;
    opt.reset = reset_from_string(reset);
    opt.detach_reset = detach_reset;
    opt.spike_vth = spike_vth;
    opt.surrogate.kind = snnkit::surrogate_from_string(surrogate);
    opt.surrogate.param = surrogate_param;
    opt.surrogate.width = surrogate_width;
    const snnkit::neuron_result r =
        repeat > 0 ? snnkit::neuron_forward_repeated(x, repeat, v_th, v0.value_or(at::Tensor()), alpha.value_or(at::Tensor()), opt)
                   : snnkit::neuron_forward(x, v_th, v0.value_or(at::Tensor()), alpha.value_or(at::Tensor()), opt);
    return {r.spikes, r.v};
}


// ---- conversion (snnkit.convert / snnkit.SNN / snnkit.load): begin ----
// A converted SNN in memory: its graph and metadata, and the ANN it came from (kept so that save() writes it
// beside the SNN as source_ann, which `snnkit eval` compares against). The GIL is released while the library runs.
struct snn_model {
    snnkit::graph snn;
    snnkit::model_meta meta;
    snnkit::graph ann; // empty (no nodes) after load()
    snnkit::model_meta ann_meta;
    // the AMX layers prepared once for this model's runs with spike_bf16 (weight parts, oneDNN primitives); the
    // cache is not thread-safe: runs that use it take the mutex (the GIL is released while they run)
    std::shared_ptr<snnkit::spike_conv_bf16_cache> amx = std::make_shared<snnkit::spike_conv_bf16_cache>();
    std::shared_ptr<std::mutex> amx_mu = std::make_shared<std::mutex>();
    // the gathered layers' weight rows (sparse runs), made once for this model's runs (thread-safe)
    std::shared_ptr<snnkit::spike_gather_cache> gather = std::make_shared<snnkit::spike_gather_cache>();
};


snn_model convert_onnx(const pybind11::bytes & onnx, const at::Tensor & images, const std::string & ann_meta_json,
                       int64_t T, const std::string & threshold, bool channel_wise, bool bias_shift, bool half_init,
                       const std::string & calib, int64_t grid, int64_t wc_iters, double wc_lr, int64_t wc_batch,
                       int64_t memory_budget_mib, uint64_t seed, const std::string & qcfs_lambda, int64_t stats_samples,
                       bool progress) {
    const std::string bytes = onnx; // copied while the GIL is held
    snnkit::convert_job_options job;
    job.conv.T = T;
    job.conv.threshold = threshold;
    job.conv.channel_wise = channel_wise;
    job.conv.bias_shift = bias_shift;
    job.conv.half_init = half_init;
    job.calib = calib;
    job.cal = snnkit::calib_preset(calib);
    job.cal.grid = grid;
    job.cal.wc_iters = wc_iters;
    job.cal.wc_lr = wc_lr;
    job.cal.wc_batch = wc_batch;
    job.cal.memory_budget = memory_budget_mib << 20;
    job.cal.seed = seed;
    job.cal.progress = progress;
    job.qcfs_lambda = qcfs_lambda;
    job.record_stats = true;
    job.stats_samples = stats_samples;
    const snnkit::model_meta ann_meta = snnkit::model_meta_from_json(ann_meta_json, "snnkit.convert metadata");
    pybind11::gil_scoped_release nogil;
    at::NoGradGuard ng;
    const snnkit::graph ann = snnkit::import_onnx_bytes(bytes, "module (exported to ONNX)");
    snnkit::convert_job_result r = snnkit::run_convert_job(ann, ann_meta, images, job);
    return {std::move(r.snn), std::move(r.meta), std::move(r.ann), ann_meta};
}

// Per-step outputs [T, N, K] of the SNN on x ([N, ...] direct input, or time-major [T, N, ...]), in batches
// that keep one activation tensor within the default memory budget.
// o: T, the observer and the inference paths (sparse, spike_bf16, spike_bf16_parts: the library checks the parts);
// spike_bf16 runs on this model's prepared AMX layers.
at::Tensor snn_run(const snn_model & m, const at::Tensor & x_in, snnkit::snn_options o) {
    const int64_t T = o.T;
    if (T < 1) snnkit::fail("T", "must be >= 1, got " + std::to_string(T));
    const at::Tensor x = snnkit::check_input_batch(x_in, m.snn.input_shape, "x", true);
    const bool temporal = x.dim() == static_cast<int64_t>(m.snn.input_shape.size()) + 2;
    if (temporal && x.size(0) != T) {
        snnkit::fail("x", "time-major input has " + std::to_string(x.size(0)) + " steps, T = " + std::to_string(T));
    }
    const int64_t n = x.size(temporal ? 1 : 0);
    const at::Tensor sample = temporal ? x[0].slice(0, 0, 1) : x.slice(0, 0, 1);
    const int64_t batch = snnkit::snn_batch_for_memory(m.snn, sample, T, 256);
    o.spike_bf16 = o.spike_bf16 && snnkit::spike_conv_bf16_available();
    std::unique_lock<std::mutex> amx_lock(*m.amx_mu, std::defer_lock);
    if (o.spike_bf16) {
        amx_lock.lock();
        o.spike_bf16_cache = m.amx.get();
    }
    o.gather_cache = m.gather.get();
    std::vector<at::Tensor> outs;
    for (int64_t i = 0; i < n; i += batch) {
        const at::Tensor xb = x.slice(temporal ? 1 : 0, i, std::min(n, i + batch));
        outs.push_back(snnkit::snn_forward(m.snn, xb, o).out);
    }
    return at::cat(outs, 1);
}

snnkit::snn_options run_options(int64_t T, bool sparse, bool spike_bf16, int spike_bf16_parts, bool spike_int8) {
    snnkit::snn_options o;
    o.T = T;
    o.sparse = sparse;
    o.spike_bf16 = spike_bf16 || spike_int8;
    o.spike_bf16_parts = spike_bf16_parts;
    o.spike_int8 = spike_int8;
    return o;
}

void bind_conversion(pybind11::module_ & m) {
    namespace py = pybind11;
    py::class_<snn_model>(m, "SnnModel", "A converted SNN (use snnkit.SNN)")
        .def_property_readonly("meta_json", [](const snn_model & s) { return snnkit::model_meta_to_json(s.meta); })
        .def_property_readonly("input_shape", [](const snn_model & s) { return s.snn.input_shape; })
        .def_property_readonly("num_classes", [](const snn_model & s) { return s.snn.num_classes; })
        .def_property_readonly("has_ann", [](const snn_model & s) { return !s.ann.nodes.empty(); })
        .def("run", [](const snn_model & s, const at::Tensor & x, int64_t T, bool sparse, bool spike_bf16,
                       int spike_bf16_parts, bool spike_int8) {
            py::gil_scoped_release nogil;
            at::NoGradGuard ng;
            return snn_run(s, x, run_options(T, sparse, spike_bf16, spike_bf16_parts, spike_int8));
        }, py::arg("x"), py::arg("T"), py::arg("sparse") = false, py::arg("spike_bf16") = false,
           py::arg("spike_bf16_parts") = 3, py::arg("spike_int8") = false)
        .def("stats", [](const snn_model & s, const at::Tensor & x, int64_t T, bool sparse, bool spike_bf16,
                         int spike_bf16_parts, bool spike_int8) {
            py::gil_scoped_release nogil;
            at::NoGradGuard ng;
            snnkit::stats_collector c(s.snn, T);
            snnkit::snn_options o = run_options(T, sparse, spike_bf16, spike_bf16_parts, spike_int8);
            o.observer = c.observer();
            o.observe_in_groups = true; // the collector sums over calls
            snn_run(s, x, o);
            return snnkit::stats_to_json(c.result());
        }, py::arg("x"), py::arg("T"), py::arg("sparse") = false, py::arg("spike_bf16") = false,
           py::arg("spike_bf16_parts") = 3, py::arg("spike_int8") = false)
        .def("save", [](const snn_model & s, const std::string & dir) {
            snnkit::model_meta meta = s.meta;
            if (!s.ann.nodes.empty()) {
                meta.source_model = std::filesystem::absolute(dir + "/source_ann").lexically_normal().string();
            }
            py::gil_scoped_release nogil;
            snnkit::save_model(dir, s.snn, meta);
            if (!s.ann.nodes.empty()) {
                snnkit::save_model(dir + "/source_ann", s.ann, s.ann_meta);
            }
        }, py::arg("dir"),
           "Writes the SNN into dir (source_model: dir/source_ann) and the source ANN into dir/source_ann "
           "(each file atomic).")
        .def("export_nir", [](const snn_model & s, const std::string & path) {
            py::gil_scoped_release nogil;
            snnkit::export_nir(path, s.snn, s.meta);
        }, py::arg("path"));
    m.def("convert_onnx", &convert_onnx, py::arg("onnx"), py::arg("images"), py::arg("ann_meta_json"), py::arg("T"),
          py::arg("threshold"), py::arg("channel_wise"), py::arg("bias_shift"), py::arg("half_init"), py::arg("calib"),
          py::arg("grid"), py::arg("wc_iters"), py::arg("wc_lr"), py::arg("wc_batch"), py::arg("memory_budget_mib"),
          py::arg("seed"), py::arg("qcfs_lambda"), py::arg("stats_samples"), py::arg("progress"),
          "Imports the ONNX bytes of an ANN, records its statistics on images, converts and calibrates it "
          "(run_convert_job): an SnnModel.");
    m.def("spike_bf16_available", &snnkit::spike_conv_bf16_available,
          "Whether spike_bf16 runs can use AMX-BF16 here (libsnnkit built with oneDNN and a CPU with AMX-BF16); "
          "elsewhere spike_bf16=True runs the float path.");
    m.def("load_model", [](const std::string & dir) {
        snn_model s;
        s.snn = snnkit::load_model(dir, &s.meta);
        return s;
    }, py::arg("dir"), "Reads a model directory (as `snnkit convert` writes) into an SnnModel.");
}
// ---- conversion: end ----

} // namespace

// ==== training (snnkit/train/train_job.h): snnkit.train_ann / snnkit.train_snn ===========================
// Options come as a dict keyed like the command's flags (dashes as underscores); an unknown key or a value of
// the wrong type is a snnkit.Error naming it. The GIL is released while training.
namespace train_binding {

using setter = std::function<void(const pybind11::handle &)>;

template <typename T>
setter set(T & field) {
    return [&field](const pybind11::handle & v) { field = v.cast<T>(); };
}

void add_job_fields(std::map<std::string, setter> & f, snnkit::train_job_options & o) {
    f["dataset"] = set(o.data.name);
    f["data"] = set(o.data.dir);
    f["arch"] = set(o.zoo.arch);
    f["dropout"] = set(o.zoo.dropout);
    f["epochs"] = set(o.train.epochs);
    f["batch_size"] = set(o.train.batch_size);
    f["eval_batch_size"] = set(o.train.eval_batch_size);
    f["optimizer"] = set(o.train.optim.kind);
    f["lr"] = set(o.train.optim.lr);
    f["lr_min"] = set(o.train.lr_min);
    f["momentum"] = set(o.train.optim.momentum);
    f["nesterov"] = set(o.train.optim.nesterov);
    f["weight_decay"] = set(o.train.optim.weight_decay);
    f["schedule"] = set(o.train.schedule);
    f["label_smoothing"] = set(o.train.label_smoothing);
    f["seed"] = set(o.train.seed);
    f["out"] = set(o.train.out_dir);
    f["resume"] = set(o.train.resume);
    f["checkpoint_steps"] = set(o.train.checkpoint_steps);
    f["max_steps"] = set(o.train.max_steps);
    f["progress"] = set(o.train.progress);
    f["check_grads"] = set(o.train.check_grads);
    f["limit_train"] = set(o.limit_train);
    f["limit_test"] = set(o.limit_test);
    f["augment"] = set(o.augment);
    f["crop_pad"] = set(o.crop_pad);
}

void apply(const pybind11::dict & options, const std::map<std::string, setter> & fields, const char * fn) {
    for (const auto & kv : options) {
        const std::string key = pybind11::str(kv.first);
        const auto it = fields.find(key);
        if (it == fields.end()) {
            std::string known;
            for (const auto & f : fields) {
                known += (known.empty() ? "" : ", ") + f.first;
            }
            snnkit::fail(fn, "unknown option '" + key + "' (known: " + known + ")");
        }
        try {
            it->second(kv.second);
        } catch (const pybind11::cast_error &) {
            snnkit::fail(fn, "option '" + key + "' has the wrong type (" +
                                 std::string(pybind11::str(pybind11::type::of(kv.second).attr("__name__"))) + ")");
        }
    }
}

// The result as JSON text; {"interrupted": true, "epochs": n} when the training stopped early.
std::string result_text(const snnkit::train_job_result & r) {
    if (r.train.interrupted) {
        return "{\"interrupted\": true, \"epochs\": " + std::to_string(r.train.epochs) + "}";
    }
    return r.result_json;
}

std::string train_ann(const pybind11::dict & options) {
    snnkit::train_ann_options o;
    o.job.train.progress = false;
    std::map<std::string, setter> f;
    add_job_fields(f, o.job);
    f["clip"] = set(o.job.zoo.clip);
    f["act"] = set(o.job.zoo.act);
    f["levels"] = set(o.job.zoo.levels);
    f["init"] = set(o.init_dir);
    f["lambda_samples"] = set(o.lambda_samples);
    f["stats_samples"] = set(o.stats_samples);
    apply(options, f, "snnkit.train_ann");
    pybind11::gil_scoped_release nogil;
    return result_text(snnkit::train_ann(o));
}

std::string train_snn(const pybind11::dict & options) {
    snnkit::train_snn_options o;
    o.job.train.eval_batch_size = 0; // auto (up to 200), as the command's default
    o.job.train.progress = false;
    std::map<std::string, setter> f;
    add_job_fields(f, o.job);
    f["T"] = set(o.snn.T);
    f["v_th"] = set(o.snn.v_th);
    f["learn_alpha"] = set(o.snn.learn_alpha);
    f["detach_reset"] = set(o.snn.neuron.detach_reset);
    f["neuron"] = set(o.neuron);
    f["alpha"] = set(o.alpha);
    f["reset"] = set(o.reset);
    f["surrogate"] = set(o.surrogate);
    f["surrogate_param"] = set(o.surrogate_param);
    f["dspike_adapt"] = set(o.dspike_adapt);
    f["b0"] = set(o.b0);
    f["db"] = set(o.adapt.db);
    f["eps"] = set(o.adapt.eps);
    f["fdg_coords"] = set(o.adapt.coords);
    f["fdg_copies"] = set(o.adapt.copies);
    f["fdg_bn"] = set(o.fdg_bn);
    f["init"] = set(o.init);
    f["dropout_mask"] = set(o.dropout_mask);
    apply(options, f, "snnkit.train_snn");
    pybind11::gil_scoped_release nogil;
    return result_text(snnkit::train_snn(o));
}

void bind(pybind11::module & m) {
    m.def("train_ann", &train_ann, pybind11::arg("options"),
          "Trains an ANN as `snnkit train-ann` does; returns the result as JSON text.");
    m.def("train_snn", &train_snn, pybind11::arg("options"),
          "Trains an SNN as `snnkit train-snn` does; returns the result as JSON text.");
}

} // namespace train_binding
// ==== end of the training block =======================================================================

PYBIND11_MODULE(_snnkit, m) {
    m.doc() = "snnkit C++ library binding (use the snnkit package, not this module)";
    static pybind11::exception<snnkit::error> error_type(m, "Error", PyExc_ValueError);
    pybind11::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const snnkit::error & e) {
            error_type(e.what());
        }
    });
    m.def("neuron_forward", &neuron_forward, pybind11::arg("x"), pybind11::arg("v_th"), pybind11::arg("v0"),
          pybind11::arg("alpha"), pybind11::arg("alpha_value"), pybind11::arg("reset"),
          pybind11::arg("detach_reset"), pybind11::arg("spike_vth"), pybind11::arg("surrogate"),
          pybind11::arg("surrogate_param"), pybind11::arg("surrogate_width"), pybind11::arg("repeat") = 0,
          "Fused multi-step LIF/IF over x [T, N, ...]: returns (spikes [T, N, ...], v [N, ...]). alpha: None (fixed "
          "alpha_value) or a 0-d tensor (its value is used, and it gets a gradient when it requires grad). "
          "repeat = T > 0: x is one step [N, ...], the input of each of the T steps (read T times, not copied).");
    m.def("surrogate_grad", [](const std::string & name, double param, double width, double x) {
        snnkit::surrogate_options s;
        s.kind = snnkit::surrogate_from_string(name);
        s.param = param;
        s.width = width;
        return snnkit::surrogate_grad(s, x);
    }, pybind11::arg("name"), pybind11::arg("param"), pybind11::arg("width"), pybind11::arg("x"),
          "d sigma / dx of the named surrogate at x (param <= 0: its default).");
    m.def("num_threads", [] { return at::get_num_threads(); },
          "Threads the library's kernels use: libtorch's intra-op pool, the one torch.set_num_threads() sets.");
    m.def("surrogate_param", [](const std::string & name, double param) {
        snnkit::surrogate_options s;
        s.kind = snnkit::surrogate_from_string(name);
        s.param = param;
        return snnkit::surrogate_param(s);
    }, pybind11::arg("name"), pybind11::arg("param"), "The surrogate parameter in force (param <= 0: the default).");
    bind_conversion(m); // ---- conversion ----
    train_binding::bind(m); // the training block above
}
