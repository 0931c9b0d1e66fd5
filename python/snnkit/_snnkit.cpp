// python/snnkit/_snnkit.cpp: the thin pybind11 layer over libsnnkit (module snnkit._snnkit).
//
// Tensors pass as they are (Debian's python3-torch and libsnnkit link the same libtorch_cpu, so no copy):
// the returned tensors carry the fused kernel's autograd node, which PyTorch's engine runs in backward.
// Everything Pythonic (modules, defaults, parameter mapping) lives in the .py files next to this one.
// snnkit::error (bad input) becomes snnkit.Error, a ValueError, with the library's one-line message.
#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron.h"
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
                                                  double surrogate_width) {
    snnkit::neuron_options opt;
    opt.alpha = alpha_value;
    opt.reset = reset_from_string(reset);
    opt.detach_reset = detach_reset;
    opt.spike_vth = spike_vth;
    opt.surrogate.kind = snnkit::surrogate_from_string(surrogate);
    opt.surrogate.param = surrogate_param;
    opt.surrogate.width = surrogate_width;
    const snnkit::neuron_result r = snnkit::neuron_forward(x, v_th, v0.value_or(at::Tensor()),
                                                           alpha.value_or(at::Tensor()), opt);
    return {r.spikes, r.v};
}

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
          pybind11::arg("surrogate_param"), pybind11::arg("surrogate_width"),
          "Fused multi-step LIF/IF over x [T, N, ...]: returns (spikes [T, N, ...], v [N, ...]). alpha: None (fixed "
          "alpha_value) or a 0-d tensor (its value is used, and it gets a gradient when it requires grad).");
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
    train_binding::bind(m); // the training block above
}
