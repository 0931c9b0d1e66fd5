// snnkit/stats/sops.cpp
#include "snnkit/stats/sops.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/snn_forward.h"

namespace snnkit {

namespace {

int64_t numel_of(const std::vector<int64_t> & s) {
    int64_t n = 1;
    for (int64_t d : s) {
        n *= d;
    }
    return n;
}

void add_energy(synapse_stats & s, const energy_options & e) {
    s.snn_energy_pj = s.sops * e.e_ac_pj + s.snn_macs * e.e_mac_pj;
    s.ann_energy_pj = s.ann_macs * e.e_mac_pj;
}

void add_totals(network_stats & r) {
    for (const auto & l : r.layers) {
        r.sops += l.sops;
        r.snn_macs += l.snn_macs;
        r.ann_macs += l.ann_macs;
        r.snn_energy_pj += l.snn_energy_pj;
        r.ann_energy_pj += l.ann_energy_pj;
    }
}

} // namespace

stats_collector::stats_collector(const graph & g, int64_t T, const stats_options & opt)
    : g_(g), T_(T), opt_(opt), shapes_(node_shapes(g)), layers_(synapse_layers(g, opt.input_events)),
      counted_(g.nodes.size(), 0), counts_(g.nodes.size()) {
    if (T < 1) {
        fail("statistics", "the number of time steps must be at least 1, got " + std::to_string(T));
    }
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        counted_[i] = g.nodes[i].op == op_kind::spike || (i == 0 && opt.input_events);
    }
    for (const auto & l : layers_) {
        if (l.events) {
            counted_[l.source] = 1; // also max-pools over spikes
        }
    }
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (counted_[i]) {
            counts_[i] = at::zeros(shapes_[i], at::kDouble);
        }
    }
}

void stats_collector::observe(int i, const node & n, const at::Tensor & out) {
    if (i == 0) {
        if (out.dim() < 2 || out.size(0) != T_) {
            fail("statistics", "expected the input over T = " + std::to_string(T_) + " steps as [T, N, ...]");
        }
        images_ += out.size(1);
    }
    if (i >= 0 && static_cast<size_t>(i) < counted_.size() && counted_[i]) {
        at::Tensor events = out.ne(0);
        if (i == 0 && !opt_.input_mean.empty()) {
            const input_norm norm = input_normalisation(opt_.input_mean, opt_.input_std, out.select(0, 0));
            events = (out * norm.std + norm.mean).gt(0.5); // raw spikes are 0 or 1
        }
        // summed into a buffer laid out as one step of the events (channels last behind AMX layers): a contiguous
        // result for strided events made eval --spike-bf16 3x slower
        at::Tensor sum = at::empty_like(events.select(0, 0).select(0, 0), events.options().dtype(at::kDouble));
        at::sum_out(sum, events, at::IntArrayRef{0, 1}, false, at::kDouble);
        counts_[i] += sum;
    }
}

node_observer stats_collector::observer() {
    return [this](int i, const node & n, const at::Tensor & out) { observe(i, n, out); };
}

network_stats stats_collector::result() const {
    if (images_ == 0) {
        fail("statistics", "no images were observed (pass the collector's observer to snn_forward)");
    }
    network_stats r;
    r.T = T_;
    r.images = images_;
    r.options = opt_;
    const double per_image = 1.0 / static_cast<double>(images_);
    double all_spikes = 0, all_neuron_steps = 0;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
        if (!counted_[i] || g_.nodes[i].op == op_kind::max_pool) {
            continue;
        }
        neuron_stats s;
        s.name = g_.nodes[i].name;
        s.neurons = numel_of(shapes_[i]);
        s.spikes = counts_[i].sum().item<double>() * per_image;
        s.firing_rate = s.spikes / static_cast<double>(T_ * s.neurons);
        if (g_.nodes[i].op == op_kind::spike) {
            all_spikes += s.spikes;
            all_neuron_steps += static_cast<double>(T_ * s.neurons);
        }
        r.neurons.push_back(s);
    }
    r.spikes = all_spikes;
    r.firing_rate = all_neuron_steps > 0 ? all_spikes / all_neuron_steps : 0.0;
    for (const auto & l : layers_) {
        synapse_stats s;
        s.name = g_.nodes[l.node].name;
        s.op = op_to_string(g_.nodes[l.node].op);
        s.source = g_.nodes[l.source].name;
        s.events = l.events;
        s.ann_macs = static_cast<double>(l.ann_macs);
        if (l.events) {
            const at::Tensor & c = counts_[l.source];
            s.sops = (c * l.fanout).sum().item<double>() * per_image;
            s.input_rate = c.sum().item<double>() * per_image / static_cast<double>(T_ * c.numel());
        } else {
            const bool once = l.static_input && opt_.static_once;
            s.snn_macs = s.ann_macs * static_cast<double>(once ? 1 : T_);
        }
        add_energy(s, opt_.energy);
        r.layers.push_back(s);
    }
    add_totals(r);
    return r;
}

network_stats ann_stats(const graph & g, const energy_options & energy) {
    const auto shapes = node_shapes(g);
    network_stats r;
    r.kind = "ann";
    r.images = 1;
    r.options.energy = energy;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const node & n = g.nodes[i];
        if (n.op != op_kind::conv2d && n.op != op_kind::linear) {
            continue;
        }
        synapse_stats s;
        s.name = n.name;
        s.op = op_to_string(n.op);
        s.source = g.nodes[n.inputs[0]].name;
        s.ann_macs = static_cast<double>(node_macs(g, static_cast<int>(i), shapes));
        add_energy(s, energy);
        r.layers.push_back(s);
    }
    add_totals(r);
    return r;
}

} // namespace snnkit
