// snnkit/interop/nir_common.cpp
#include "snnkit/interop/nir_common.h"

#include "snnkit/core/error.h"

#include <nlohmann/json.hpp>

namespace snnkit {

std::string neuron_to_json(const neuron_options & o) {
    const nlohmann::json j = {{"alpha", o.alpha},
                              {"reset", o.reset == reset_mode::soft ? "soft" : "hard"},
                              {"detach_reset", o.detach_reset},
                              {"spike_vth", o.spike_vth},
                              {"threshold_test", ">="},
                              {"surrogate", surrogate_to_string(o.surrogate.kind)},
                              {"surrogate_param", o.surrogate.param},
                              {"surrogate_width", o.surrogate.width}};
    return j.dump();
}

neuron_options neuron_from_json(const std::string & text, const std::string & where) {
    neuron_options o;
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        o.alpha = j.at("alpha").get<double>();
        const std::string r = j.at("reset").get<std::string>();
        if (r != "soft" && r != "hard") {
            fail(where, "reset must be soft or hard, got '" + r + "'");
        }
        o.reset = r == "soft" ? reset_mode::soft : reset_mode::hard;
        o.detach_reset = j.at("detach_reset").get<bool>();
        o.spike_vth = j.at("spike_vth").get<bool>();
        o.surrogate.kind = surrogate_from_string(j.at("surrogate").get<std::string>());
        o.surrogate.param = j.at("surrogate_param").get<double>();
        o.surrogate.width = j.at("surrogate_width").get<double>();
    } catch (const nlohmann::json::exception & e) {
        fail(where, std::string("bad snnkit_neuron metadata: ") + e.what());
    }
    check_neuron_options(where, o);
    return o;
}

} // namespace snnkit
