// snnkit/stats/sops.h: firing rates, synaptic operations (SOPs) and an energy estimate of an SNN,
// collected while it runs (an observer of snn_forward, so an accuracy run needs no second pass), beside
// the multiply-accumulates (MACs) and energy of the ANN with the same layers.
//
//   SNN energy = SOPs * E_AC + (MACs of layers with analog input) * E_MAC
//   ANN energy = MACs * E_MAC
// Counting conventions: snnkit/stats/ops.h and docs/stats.md. Figures are per image: summed over the T
// steps of one inference and averaged over the images seen.
#pragma once

#include "snnkit/nn/forward.h"
#include "snnkit/stats/ops.h"

#include <string>
#include <vector>

namespace snnkit {

struct energy_options {
    /// energy of one accumulate (AC) in picojoules: a 32-bit float add at 45 nm (Horowitz, ISSCC 2014)
    double e_ac_pj = 0.9;
    /// energy of one multiply-accumulate (MAC) in picojoules: 32-bit float multiply 3.7 + add 0.9 (same source)
    double e_mac_pj = 4.6;
};

struct stats_options {
    /// the input carries spikes (Poisson encoding, event data): the first layer then does SOPs, not MACs
    bool input_events = false;
    /// input_events with normalised spikes (snn_options::input_mean / input_std): an input event is a
    /// value that maps back to a raw 1, not any non-zero value
    std::vector<float> input_mean;
    /// see input_mean
    std::vector<float> input_std;
    /// analog layers whose input is the same at every step (direct encoding, before the first spike node)
    /// count once per image, as snn_forward computes them; false: once per step (T times)
    bool static_once = true;
    /// energy per operation
    energy_options energy;
};

struct neuron_stats {
    std::string name;         ///< spike node (or "input" for spike-encoded input)
    int64_t neurons = 0;      ///< neurons in the layer (one sample)
    double spikes = 0;        ///< spikes per image over the T steps
    double firing_rate = 0;   ///< spikes per neuron per step
};

struct synapse_stats {
    std::string name;         ///< accumulating node (conv2d, linear, add, pool)
    std::string op;           ///< its op ("conv2d", ...)
    std::string source;       ///< node whose values it receives
    bool events = false;      ///< input is spikes (SOPs) or analog (MACs)
    double input_rate = 0;    ///< events: the source's spikes per neuron per step; analog: 0
    double sops = 0;          ///< synaptic operations per image (accumulates)
    double snn_macs = 0;      ///< MACs per image of the SNN (analog input only)
    double ann_macs = 0;      ///< MACs per image of the same layer in the ANN
    double snn_energy_pj = 0; ///< sops * E_AC + snn_macs * E_MAC
    double ann_energy_pj = 0; ///< ann_macs * E_MAC
};

struct network_stats {
    std::string kind = "snn"; ///< "snn" (measured) or "ann" (MACs only)
    int64_t T = 0;            ///< time steps per image (0 for an ANN)
    int64_t images = 0;       ///< images the figures average over
    stats_options options;    ///< constants and conventions used
    std::vector<neuron_stats> neurons;
    std::vector<synapse_stats> layers;
    double spikes = 0, sops = 0, snn_macs = 0, ann_macs = 0, snn_energy_pj = 0, ann_energy_pj = 0; ///< totals per image
    double firing_rate = 0;   ///< all spike nodes together: spikes per neuron per step
    /// ANN energy / SNN energy (0 when the SNN figure is 0)
    double energy_ratio() const { return snn_energy_pj > 0 ? ann_energy_pj / snn_energy_pj : 0.0; }
};

// Collects spike counts per source neuron from snn_forward's observer and turns them into statistics.
// Usage: stats_collector c(g, T); so.observer = c.observer(); run batches; c.result(). The collector keeps
// a reference to g, which must outlive it.
class stats_collector {
public:
    stats_collector(const graph & g, int64_t T, const stats_options & opt = {});
    // The observer body: node i's output over time [T, N, ...]. Counts the images at the input node and
    // the events of every event source.
    void observe(int i, const node & n, const at::Tensor & out);
    // An observer calling observe (the collector must outlive it).
    node_observer observer();
    // Statistics over everything observed so far (throws snnkit::error if nothing was observed).
    network_stats result() const;

private:
    const graph & g_;
    int64_t T_;
    stats_options opt_;
    std::vector<std::vector<int64_t>> shapes_;
    std::vector<synapse_layer> layers_;
    std::vector<char> counted_;      // node i's events are counted
    std::vector<at::Tensor> counts_; // per node: events summed over steps and images, [shape], double
    int64_t images_ = 0;
};

// The ANN side only (no simulation): MACs and energy of every conv/linear of g, per image.
network_stats ann_stats(const graph & g, const energy_options & energy = {});

} // namespace snnkit
