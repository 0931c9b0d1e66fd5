// python/snnkit/_snnkit.cpp: the thin pybind11 layer over libsnnkit (module snnkit._snnkit).
//
// Tensors pass as they are (Debian's python3-torch and libsnnkit link the same libtorch_cpu, so no copy):
// the returned tensors carry the fused kernel's autograd node, which PyTorch's engine runs in backward.
// Everything Pythonic (modules, defaults, parameter mapping) lives in the .py files next to this one.
// snnkit::error (bad input) becomes snnkit.Error, a ValueError, with the library's one-line message.
#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron.h"
#include "snnkit/neuron/surrogate.h"

#include <ATen/Parallel.h>
#include <torch/extension.h>

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
}
