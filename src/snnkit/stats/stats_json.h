// snnkit/stats/stats_json.h: network statistics as JSON (for --json files and `snnkit report`) and as
// the table the commands print.
#pragma once

#include "snnkit/stats/sops.h"

#include <string>

namespace snnkit {

// A JSON object (as text): {"kind", "T", "images", "energy_pj_per_op": {"ac", "mac"}, "conventions",
// "neurons": [{layer, neurons, spikes, firing_rate}], "layers": [{layer, op, source, input, input_rate,
// sops, snn_macs, ann_macs, snn_energy_pj, ann_energy_pj}], "totals": {...}}; figures per image.
std::string stats_to_json(const network_stats & s);

// 1234567 -> "1.235 M" (k, M, G).
std::string format_count(double v);

// An energy given in picojoules with a fitting unit: 1234.5 -> "1.234 nJ".
std::string format_energy(double pj);

// The per-layer and total table, ready to print.
std::string stats_table(const network_stats & s);

} // namespace snnkit
