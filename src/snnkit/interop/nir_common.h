// snnkit/interop/nir_common.h: names shared by the NIR writer and reader (internal to snnkit/interop).
#pragma once

#include "snnkit/neuron/neuron.h"

#include <string>

namespace snnkit {

// The NIR file layout written (that of the `nir` Python package 1.0.x).
inline const char * const kNirVersion = "1.0.8";
// Tag of the snnkit-specific metadata (bumped if its keys change).
inline const char * const kSnnkitNirFormat = "snnkit-nir-1";
// Name suffix of the Scale node that gives spikes the amplitude V_th.
inline const char * const kScaleSuffix = ".vth_scale";

// Neuron options <-> JSON text (alpha, reset, detach_reset, spike_vth, surrogate, its parameters).
std::string neuron_to_json(const neuron_options & o);
neuron_options neuron_from_json(const std::string & text, const std::string & where);

} // namespace snnkit
