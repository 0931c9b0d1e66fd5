// snnkit/convert/calibrate.cpp
#include "snnkit/convert/calibrate.h"

#include "snnkit/convert/calib_steps.h"
#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"
#include "snnkit/core/progress.h"
#include "snnkit/core/rng.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_batch.h"
#include "snnkit/nn/snn_forward.h"

#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>

#include <map>
#include <tuple>

namespace snnkit {

namespace {

// ANN output of node `idx` over all of x, in batches.
at::Tensor ann_collect(const graph & ann, int idx, const at::Tensor & x, int64_t batch) {
    at::NoGradGuard ng;
    std::vector<at::Tensor> parts;
    forward_options fo;
    fo.stop_at = idx;
    for (int64_t s = 0; s < x.size(0); s += batch) {
        parts.push_back(ann_forward(ann, x.slice(0, s, std::min(x.size(0), s + batch)), fo));
    }
    return at::cat(parts);
}

// The calibration set's ANN values, advanced node by node in one pass over the graph: value_of(idx)
// runs only the nodes since the previous call (on every batch of x) and returns node idx's output over all
// of x, so visiting L layers in order costs one ANN forward instead of L prefixes (ann_collect per layer).
// It keeps what later nodes read and the value returned; the same batches and ops as ann_forward, so
// the values are the same.
class ann_walk {
public:
    ann_walk(const graph & ann, const at::Tensor & x, int64_t batch) : ann_(ann), x_(x), batch_(batch) {
        uses_ = ann.consumer_counts();
        for (int64_t s = 0; s < x.size(0); s += batch) {
            vals_.emplace_back(ann.nodes.size());
            vals_.back()[0] = x.slice(0, s, std::min(x.size(0), s + batch));
        }
    }

    at::Tensor value_of(int idx) {
        if (idx < pos_ && !vals_.front()[idx].defined()) { // out of order and already freed: a pass of its own
            return ann_collect(ann_, idx, x_, batch_);
        }
        at::NoGradGuard ng;
        std::vector<at::Tensor> in;
        for (int i = pos_ + 1; i <= idx; ++i) {
            const node & n = ann_.nodes[i];
            for (auto & v : vals_) {
                in.clear();
                for (int j : n.inputs) {
                    in.push_back(v[j]);
                }
                v[i] = apply_op(n, in, false);
            }
            for (int j : n.inputs) {
                if (--uses_[j] == 0 && j != idx) {
                    for (auto & v : vals_) {
                        v[j] = at::Tensor();
                    }
                }
            }
        }
        pos_ = std::max(pos_, idx);
        std::vector<at::Tensor> parts;
        for (auto & v : vals_) {
            parts.push_back(v[idx]);
        }
        return at::cat(parts);
    }

private:
    const graph & ann_;
    at::Tensor x_;
    int64_t batch_;
    std::vector<int> uses_;
    std::vector<std::vector<at::Tensor>> vals_; // per batch, per node
    int pos_ = 0;                               // nodes up to pos_ have run
};

// SNN time-averaged outputs (rates, in the ANN's units) of the nodes in `want`, over all of x.
std::map<int, at::Tensor> snn_rates(const graph & snn, const std::vector<int> & want, const at::Tensor & x, int64_t T,
                                    int64_t batch) {
    at::NoGradGuard ng;
    std::map<int, std::vector<at::Tensor>> parts;
    snn_options so;
    so.T = T;
    so.stop_at = *std::max_element(want.begin(), want.end());
    so.observer = [&](int i, const node &, const at::Tensor & out) {
        if (std::find(want.begin(), want.end(), i) == want.end()) {
            return;
        }
        parts[i].push_back(out.mean(0));
    };
    for (int64_t s = 0; s < x.size(0); s += batch) {
        snn_forward(snn, x.slice(0, s, std::min(x.size(0), s + batch)), so);
    }
    std::map<int, at::Tensor> r;
    for (auto & kv : parts) {
        r[kv.first] = at::cat(kv.second);
    }
    return r;
}

// The calibration set's simulation advanced one spiking layer at a time. For each batch of x it keeps the
// values of the nodes that later nodes still read (the frontier), spike trains as booleans (1 byte per
// neuron-step; the amplitude is restored on use), so that calibrating layer l re-simulates only the
// segment between the previous spiking layer and l, never the whole prefix again.
class segment_cache {
public:
    segment_cache(const at::Tensor & x, int64_t T, int64_t batch) : T_(T) {
        for (int64_t s = 0; s < x.size(0); s += batch) {
            frontier_.push_back({{0, stored{x.slice(0, s, std::min(x.size(0), s + batch)), false, {}}}});
        }
    }

    // Simulates nodes (pos, i] on every batch and returns the rate (mean over T) of each node in `want`
    // over all of x, [N, ...]. With commit, the frontier advances to node i (run this last, with the
    // layer's final parameters). Without commit, the run stops at the last node of `want` and may cover
    // only the first `batches` batches (-1 = all).
    std::map<int, at::Tensor> run(const graph & snn, int i, const std::vector<int> & want, bool commit,
                                  int64_t batches = -1) {
        at::NoGradGuard ng;
        std::vector<int> keep; // frontier after i: nodes <= i read by a later node
        if (commit) {
            for (size_t c = i + 1; c < snn.nodes.size(); ++c) {
                for (int j : snn.nodes[c].inputs) {
                    if (j <= i && std::find(keep.begin(), keep.end(), j) == keep.end()) {
                        keep.push_back(j);
                    }
                }
            }
        }
        snn_options so;
        so.T = T_;
        so.first = pos_ + 1;
        so.stop_at = commit ? i : *std::max_element(want.begin(), want.end());
        const size_t nb = commit || batches < 0 ? frontier_.size()
                                                : std::min(frontier_.size(), static_cast<size_t>(batches));
        for (int j : want) {
            if (j > pos_) {
                so.hold.push_back(j);
            }
        }
        for (int j : keep) {
            if (j > pos_) {
                so.hold.push_back(j);
            }
        }
        std::map<int, std::vector<at::Tensor>> parts;
        for (size_t b = 0; b < nb; ++b) {
            std::map<int, snn_node_value> resume;
            for (const auto & kv : frontier_[b]) {
                resume[kv.first] = restore(kv.second);
            }
            so.resume = &resume;
            const snn_output out = so.stop_at > pos_ ? snn_forward(snn, frontier_[b].at(0).t, so) : snn_output();
            for (int j : want) {
                parts[j].push_back(rate(j > pos_ ? out.held.at(j) : resume.at(j)));
            }
            if (commit) {
                std::map<int, stored> next{{0, frontier_[b].at(0)}};
                for (int j : keep) {
                    next[j] = j > pos_ ? compact(snn.nodes[j], out.held.at(j)) : frontier_[b].at(j);
                }
                frontier_[b] = std::move(next);
            }
        }
        if (commit) {
            pos_ = i;
        }
        std::map<int, at::Tensor> r;
        for (auto & kv : parts) {
            r[kv.first] = at::cat(kv.second);
        }
        return r;
    }

private:
    struct stored {
        at::Tensor t;     // the value, or its spikes as booleans when amp is defined
        bool temporal = false;
        at::Tensor amp;   // spike amplitude (broadcastable to the value)
    };

    static stored compact(const node & n, const snn_node_value & v) {
        if (n.op != op_kind::spike || !v.temporal) {
            return {v.t, v.temporal, {}};
        }
        at::Tensor amp = n.attrs.neuron.spike_vth ? n.tensor("v_th") : at::ones({}, v.t.options());
        if (amp.dim() == 1) {
            std::vector<int64_t> shape(v.t.dim(), 1);
            shape[1] = -1;
            amp = amp.reshape(shape);
        }
        return {v.t.ne(0), true, amp};
    }

    static snn_node_value restore(const stored & s) {
        if (!s.amp.defined()) {
            return {s.t, s.temporal};
        }
        return {s.t.to(s.amp.scalar_type()) * s.amp, true};
    }

    at::Tensor rate(const snn_node_value & v) const {
        if (!v.temporal) {
            return v.t;
        }
        std::vector<int64_t> s = v.t.sizes().vec();
        std::vector<int64_t> r{T_, s[0] / T_};
        r.insert(r.end(), s.begin() + 1, s.end());
        return v.t.reshape(r).mean(0);
    }

    int64_t T_;
    std::vector<std::map<int, stored>> frontier_; // per batch of x; node 0 is the batch itself
    int pos_ = 0;                                  // the frontier holds what nodes after pos_ read
};

double mean_of(const at::Tensor & t) { return t.to(at::kDouble).mean().item<double>(); }

} // namespace

calib_options calib_preset(const std::string & name) {
    calib_options o;
    if (name == "none") {
        return o;
    }
    if (name == "light") {
        o.threshold_search = o.bias_correction = true;
        return o;
    }
    if (name == "advanced") {
        o.threshold_search = o.weight_calibration = o.potential_correction = true;
        return o;
    }
    fail("--calib " + name, "unknown calibration preset (known: none, light, advanced)");
}

void set_threshold(graph & snn, int i, const at::Tensor & v_th, const convert_options & conv) {
    node & n = snn.nodes[i];
    const at::Tensor old = n.buffers.at("v_th");
    const at::Tensor delta = v_th - old;
    const int o = bias_owner(snn, i);
    if (conv.bias_shift && o >= 0) {
        node & p = snn.nodes[o];
        p.params["bias"] = (p.params.at("bias") + (delta / (2.0 * static_cast<double>(conv.T))).expand({p.attrs.out}))
                               .contiguous();
    }
    if (conv.half_init || (conv.bias_shift && o < 0)) {
        n.buffers["v0"] = (n.buffers.at("v0") + delta * 0.5).contiguous();
    }
    n.buffers["v_th"] = v_th.contiguous();
}

std::vector<std::pair<std::string, double>> layer_errors(const graph & snn, const graph & ann, const at::Tensor & x,
                                                         int64_t T, int64_t batch_size) {
    std::vector<int> spikes;
    for (size_t i = 0; i < snn.nodes.size(); ++i) {
        if (snn.nodes[i].op == op_kind::spike) {
            spikes.push_back(static_cast<int>(i));
        }
    }
    if (spikes.empty()) {
        return {};
    }
    return layer_errors_from_rates(snn, ann, x, snn_rates(snn, spikes, x, T, batch_size), batch_size);
}

std::vector<std::pair<std::string, double>> layer_errors_from_rates(const graph & snn, const graph & ann,
                                                                    const at::Tensor & x,
                                                                    const std::map<int, at::Tensor> & rates,
                                                                    int64_t batch_size) {
    std::vector<std::pair<std::string, double>> r;
    for (const auto & kv : rates) { // ascending node index: the layers in order
        const at::Tensor a = ann_collect(ann, ann.find(snn.nodes[kv.first].name), x, batch_size);
        if (a.sizes() != kv.second.sizes()) {
            fail("layer '" + snn.nodes[kv.first].name + "'", "SNN rates and ANN activations differ in shape");
        }
        r.emplace_back(snn.nodes[kv.first].name, (a - kv.second).pow(2).mean().item<double>());
    }
    return r;
}

calib_report calibrate(graph & snn, const graph & ann, const at::Tensor & x, const convert_options & conv,
                       const calib_options & opt) {
    const auto t0 = clock_now();
    const int64_t T = conv.T;
    const double shift = convert_shift(conv);
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(opt.seed, 0xca1));
    std::vector<int> spikes;
    for (size_t i = 0; i < snn.nodes.size(); ++i) {
        if (snn.nodes[i].op == op_kind::spike) {
            spikes.push_back(static_cast<int>(i));
        }
    }
    calib_report rep;
    for (int i : spikes) {
        calib_layer_report l;
        l.name = snn.nodes[i].name;
        l.v_th_before = mean_of(snn.nodes[i].tensor("v_th"));
        rep.layers.push_back(l);
    }
    if (opt.threshold_search) {
        progress_bar bar("calibrate: threshold search", static_cast<int64_t>(spikes.size()), opt.progress);
        ann_walk walk(ann, x, opt.batch_size);
        for (size_t k = 0; k < spikes.size(); ++k) {
            const int i = spikes[k];
            const int ai = ann.find(snn.nodes[i].name);
            const at::Tensor pre = walk.value_of(ann.nodes[ai].inputs[0]);
            threshold_search_options so;
            so.grid = opt.grid;
            so.max_values = opt.search_values;
            const node & an = ann.nodes[ai];
            // the ANN's clip: a clipped ReLU's clip, a QCFS layer's lambda (target clamp(x, 0, lambda))
            so.clip = an.op == op_kind::clip_relu ? an.attrs.clip
                      : an.op == op_kind::qcfs    ? an.tensor("lambda").item<double>()
                                                  : 0.0;
            so.shift = shift;
            set_threshold(snn, i, calib_threshold_search(pre, snn.nodes[i].tensor("v_th"), T, so, gen), conv);
            bar.update(static_cast<int64_t>(k + 1));
        }
        bar.finish();
    }
    const bool per_layer = opt.bias_correction || opt.potential_correction || opt.weight_calibration;
    progress_bar bar(per_layer ? "calibrate: layer-wise" : "calibrate: layer errors", static_cast<int64_t>(spikes.size()),
                     opt.progress);
    // The SNN passes hold T x batch samples per activation: fewer images per pass at large T (memory).
    const int64_t sim_batch = snn_batch_for_memory(snn, x.slice(0, 0, 1), T, opt.batch_size, opt.sim_bytes);
    segment_cache cache(x, T, sim_batch);
    ann_walk walk(ann, x, opt.batch_size);
    for (size_t k = 0; k < spikes.size(); ++k) {
        const int i = spikes[k];
        calib_layer_report & l = rep.layers[k];
        const at::Tensor a = walk.value_of(ann.find(snn.nodes[i].name));
        const int owner = bias_owner(snn, i);
        std::vector<int> want{i};
        const int feed = snn.nodes[i].inputs[0];
        std::vector<int> others; // residual add inputs other than the owner's branch
        if (owner >= 0 && opt.weight_calibration) {
            want.push_back(snn.nodes[owner].inputs[0]);
            if (snn.nodes[feed].op == op_kind::add) {
                for (size_t q = 1; q < snn.nodes[feed].inputs.size(); ++q) {
                    others.push_back(snn.nodes[feed].inputs[q]);
                    want.push_back(snn.nodes[feed].inputs[q]);
                }
            }
        }
        std::map<int, at::Tensor> r;
        int64_t report_n = a.size(0); // images the report's errors are measured on
        if (opt.weight_calibration && owner >= 0) {
            // WC needs only its inputs' rates over all of x; the error before calibration (for the report)
            // is measured on the first batches, which saves a third of the layer-wise time.
            std::vector<int> inputs(want.begin() + 1, want.end());
            r = cache.run(snn, i, inputs, false);
            const int64_t nb = (opt.report_samples + sim_batch - 1) / sim_batch;
            r[i] = cache.run(snn, i, {i}, false, nb).at(i);
            report_n = r[i].size(0);
        } else {
            r = cache.run(snn, i, want, !per_layer);
        }
        l.mse_before = (a.slice(0, 0, report_n) - r.at(i)).pow(2).mean().item<double>();
        if (!per_layer) {
            l.mse_after = l.mse_before;
            l.v_th_after = mean_of(snn.nodes[i].tensor("v_th"));
            bar.update(static_cast<int64_t>(k + 1));
            continue;
        }
        if (opt.weight_calibration && owner >= 0) {
            at::Tensor rest;
            for (int q : others) {
                rest = rest.defined() ? rest + r.at(q) : r.at(q);
            }
            weight_calib_options wo;
            wo.iters = opt.wc_iters;
            wo.lr = opt.wc_lr;
            wo.batch = opt.wc_batch;
            wo.seed = rng_mix(opt.seed, 0x3c, i);
            node & o = snn.nodes[owner];
            std::tie(o.params["weight"], o.params["bias"]) =
                calib_weights(o, r.at(o.inputs[0]), rest, a, snn.nodes[i].tensor("v_th"), snn.nodes[i].tensor("v0"), T, wo);
            r = cache.run(snn, i, {i}, false);
        }
        at::NoGradGuard ng;
        if (opt.bias_correction && owner >= 0) {
            node & p = snn.nodes[owner];
            const at::Tensor mu = calib_bias_correction(a, r.at(i));
            p.params["bias"] = (p.params.count("bias") ? p.params.at("bias") + mu : mu).contiguous();
            if (opt.potential_correction) {
                r = cache.run(snn, i, {i}, false);
            }
        }
        if (opt.potential_correction) {
            node & n = snn.nodes[i];
            n.buffers["v0"] = add_potential_correction(n.tensor("v0"), calib_potential_correction(a, r.at(i), T));
        }
        // the final parameters' rates: the report's error after, and the frontier for the next layer
        l.mse_after = (a - cache.run(snn, i, {i}, true).at(i)).slice(0, 0, report_n).pow(2).mean().item<double>();
        l.v_th_after = mean_of(snn.nodes[i].tensor("v_th"));
        bar.update(static_cast<int64_t>(k + 1));
    }
    bar.finish();
    rep.seconds = seconds_since(t0);
    return rep;
}

} // namespace snnkit
