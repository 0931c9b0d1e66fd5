// snnkit/stats/stats_json.cpp
#include "snnkit/stats/stats_json.h"

#include <nlohmann/json.hpp>

#include <cstdarg>
#include <cstdio>

namespace snnkit {

namespace {

std::string line(const char * fmt, ...) __attribute__((format(printf, 1, 2)));
std::string line(const char * fmt, ...) {
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    return std::string(b) + "\n";
}

} // namespace

// 1234567 -> "1.235 M"
std::string format_count(double v) {
    char b[32];
    if (v >= 1e9) {
        std::snprintf(b, sizeof b, "%.3f G", v / 1e9);
    } else if (v >= 1e6) {
        std::snprintf(b, sizeof b, "%.3f M", v / 1e6);
    } else if (v >= 1e3) {
        std::snprintf(b, sizeof b, "%.2f k", v / 1e3);
    } else {
        std::snprintf(b, sizeof b, "%.1f", v);
    }
    return b;
}

// 1234.5 pJ -> "1.234 nJ"
std::string format_energy(double pj) {
    const char * unit[] = {"pJ", "nJ", "uJ", "mJ", "J"};
    int u = 0;
    while (pj >= 1000.0 && u < 4) {
        pj /= 1000.0;
        ++u;
    }
    char b[32];
    std::snprintf(b, sizeof b, "%.3f %s", pj, unit[u]);
    return b;
}

std::string stats_to_json(const network_stats & s) {
    nlohmann::json j;
    j["kind"] = s.kind;
    j["T"] = s.T;
    j["images"] = s.images;
    j["energy_pj_per_op"] = {{"ac", s.options.energy.e_ac_pj}, {"mac", s.options.energy.e_mac_pj}};
    j["conventions"] = {{"input_events", s.options.input_events},
                        {"static_layers_once", s.options.static_once},
                        {"per", "image (all T steps)"},
                        {"doc", "docs/stats.md"}};
    nlohmann::json neurons = nlohmann::json::array();
    for (const auto & n : s.neurons) {
        neurons.push_back({{"layer", n.name}, {"neurons", n.neurons}, {"spikes", n.spikes}, {"firing_rate", n.firing_rate}});
    }
    nlohmann::json layers = nlohmann::json::array();
    for (const auto & l : s.layers) {
        layers.push_back({{"layer", l.name},
                          {"op", l.op},
                          {"source", l.source},
                          {"input", s.kind == "ann" ? "analog" : (l.events ? "spikes" : "analog")},
                          {"input_rate", l.input_rate},
                          {"sops", l.sops},
                          {"snn_macs", l.snn_macs},
                          {"ann_macs", l.ann_macs},
                          {"snn_energy_pj", l.snn_energy_pj},
                          {"ann_energy_pj", l.ann_energy_pj}});
    }
    j["neurons"] = neurons;
    j["layers"] = layers;
    j["totals"] = {{"spikes", s.spikes},
                   {"firing_rate", s.firing_rate},
                   {"sops", s.sops},
                   {"snn_macs", s.snn_macs},
                   {"ann_macs", s.ann_macs},
                   {"snn_energy_pj", s.snn_energy_pj},
                   {"ann_energy_pj", s.ann_energy_pj},
                   {"ann_to_snn_energy", s.energy_ratio()}};
    return j.dump(2);
}

std::string stats_table(const network_stats & s) {
    std::string t;
    const bool snn = s.kind != "ann";
    if (snn && !s.neurons.empty()) {
        t += line("%-24s %10s %14s %12s", "neurons", "count", "spikes/image", "firing rate");
        for (const auto & n : s.neurons) {
            t += line("%-24s %10lld %14s %12.4f", n.name.c_str(), static_cast<long long>(n.neurons), format_count(n.spikes).c_str(),
                      n.firing_rate);
        }
        t += line("%-24s %10s %14s %12.4f", "all", "", format_count(s.spikes).c_str(), s.firing_rate);
        t += "\n";
    }
    if (!snn) {
        t += line("%-24s %-8s %-22s %11s %12s", "layer", "op", "input", "MACs", "energy");
        for (const auto & l : s.layers) {
            t += line("%-24s %-8s %-22s %11s %12s", l.name.c_str(), l.op.c_str(), l.source.c_str(), format_count(l.ann_macs).c_str(),
                      format_energy(l.ann_energy_pj).c_str());
        }
        t += line("%-24s %-8s %-22s %11s %12s", "total", "", "", format_count(s.ann_macs).c_str(), format_energy(s.ann_energy_pj).c_str());
    } else {
        t += line("%-24s %-8s %-22s %8s %11s %11s %11s %12s %12s", "layer", "op", "input", "in rate", "SOPs", "SNN MACs",
                  "ANN MACs", "SNN energy", "ANN energy");
        for (const auto & l : s.layers) {
            const std::string in = l.source + (l.events ? " (spikes)" : "");
            char rate[16] = "-";
            if (l.events) {
                std::snprintf(rate, sizeof rate, "%.4f", l.input_rate);
            }
            t += line("%-24s %-8s %-22s %8s %11s %11s %11s %12s %12s", l.name.c_str(), l.op.c_str(), in.c_str(), rate,
                      format_count(l.sops).c_str(), format_count(l.snn_macs).c_str(), format_count(l.ann_macs).c_str(), format_energy(l.snn_energy_pj).c_str(),
                      format_energy(l.ann_energy_pj).c_str());
        }
        t += line("%-24s %-8s %-22s %8s %11s %11s %11s %12s %12s", "total", "", "", "", format_count(s.sops).c_str(),
                  format_count(s.snn_macs).c_str(), format_count(s.ann_macs).c_str(), format_energy(s.snn_energy_pj).c_str(),
                  format_energy(s.ann_energy_pj).c_str());
    }
    const auto & e = s.options.energy;
    if (snn) {
        t += line("energy per image (T = %lld, mean of %lld images): SNN %s (SOPs x %.2f pJ + MACs x %.2f pJ), "
                  "ANN %s (MACs x %.2f pJ): ANN/SNN = %.2fx",
                  static_cast<long long>(s.T), static_cast<long long>(s.images), format_energy(s.snn_energy_pj).c_str(),
                  e.e_ac_pj, e.e_mac_pj, format_energy(s.ann_energy_pj).c_str(), e.e_mac_pj, s.energy_ratio());
    } else {
        t += line("ANN per image: %s MACs, %s (MACs x %.2f pJ)", format_count(s.ann_macs).c_str(), format_energy(s.ann_energy_pj).c_str(),
                  e.e_mac_pj);
    }
    return t;
}

} // namespace snnkit
