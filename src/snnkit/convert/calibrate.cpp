// snnkit/convert/calibrate.cpp
#include "snnkit/convert/calibrate.h"

#include "snnkit/convert/clipfloor.h"
#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"
#include "snnkit/core/rng.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/snn_batch.h"
#include "snnkit/nn/snn_forward.h"
#include "snnkit/train/optimizer.h"
#include "snnkit/train/progress.h"

#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>

#include <map>

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

// Channel mean of e over every dim but 1 (dim 0 for [N, F] becomes per-feature).
at::Tensor channel_mean(const at::Tensor & e) {
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < e.dim(); ++d) {
        dims.push_back(d);
    }
    return e.mean(dims);
}

// Grid search of the threshold: per layer (v_th 0-d) or per channel (v_th [C]).
at::Tensor search_threshold(const at::Tensor & pre, const at::Tensor & v_th_now, double clip, int64_t T, double shift,
                            const calib_options & opt, at::Generator & gen) {
    at::NoGradGuard ng;
    const bool per_channel = v_th_now.dim() == 1 && pre.dim() >= 2;
    at::Tensor xs; // [C, M] per channel or [1, M]
    if (per_channel) {
        xs = pre.transpose(0, 1).reshape({pre.size(1), -1});
    } else {
        xs = pre.reshape({1, -1});
    }
    // The grid spans [0, max(x)] over all values, also when the error is measured on a sample of them.
    const at::Tensor raw_max = xs.amax(1, true);        // [C, 1]
    const at::Tensor mx = at::clamp_min(raw_max, 1e-8); // [C, 1]
    const int64_t m = xs.size(1), keep = std::max<int64_t>(1, opt.search_values / xs.size(0));
    if (m > keep) {
        xs = xs.index_select(1, at::randint(m, {keep}, gen, at::kLong));
    }
    const at::Tensor target = clip > 0 ? at::clamp(xs, 0.0, clip) : at::relu(xs);
    at::Tensor best_err = at::full({xs.size(0), 1}, INFINITY, xs.options());
    at::Tensor best_v = mx.clone();
    for (int64_t k = 1; k <= opt.grid; ++k) {
        const at::Tensor v = mx * (static_cast<double>(k) / static_cast<double>(opt.grid));
        const at::Tensor err = (clipfloor(xs, T, v, shift) - target).pow(2).sum(1, true);
        const at::Tensor better = err < best_err;
        best_err = at::where(better, err, best_err);
        best_v = at::where(better, v, best_v);
    }
    // A channel (or layer) that never goes above 0 has no error to minimise: it keeps the threshold it had
    // (conversion's floor), not the grid's first point of a 1e-8 "maximum".
    if (v_th_now.numel() == best_v.numel()) {
        best_v = at::where(raw_max > 0, best_v, v_th_now.reshape(best_v.sizes()).to(best_v.scalar_type()));
    }
    return per_channel ? best_v.reshape({-1}).contiguous() : best_v.reshape({}).contiguous();
}

// floor with a straight-through gradient (identity in backward).
at::Tensor floor_ste(const at::Tensor & z) { return z + (at::floor(z) - z).detach(); }

// WC for spike node i: Adam on the owner's weight and bias so that clipfloor(owner(s_in) + rest) matches a.
// The owner's bias already holds any bias shift, so the floor's only other shift is the neuron's own
// initial potential: floor(T x / V + v(0) / V).
void weight_calibration(graph & snn, int i, int owner, const at::Tensor & s_in, const at::Tensor & rest,
                        const at::Tensor & a, int64_t T, const calib_options & opt) {
    node & o = snn.nodes[owner];
    node work = o;
    at::Tensor w = o.params.at("weight").detach().clone().requires_grad_(true);
    at::Tensor b = (o.params.count("bias") ? o.params.at("bias") : at::zeros({o.attrs.out})).detach().clone();
    b.requires_grad_(true);
    work.params["weight"] = w;
    work.params["bias"] = b;
    optimizer_options oo;
    oo.kind = "adam";
    oo.lr = opt.wc_lr;
    oo.weight_decay = 0;
    optimizer adam({{"weight", w}, {"bias", b}}, oo);
    const at::Tensor vth = snn.nodes[i].tensor("v_th");
    std::vector<int64_t> vshape(a.dim(), 1);
    if (vth.dim() == 1) {
        vshape[1] = -1;
    }
    const at::Tensor v = vth.reshape(vshape);
    at::Tensor shift = at::zeros({}, a.options());
    const at::Tensor v0 = snn.nodes[i].tensor("v0");
    if (v0.defined()) {
        // v(0) is a scalar, per channel ([C], like a channel-wise V_th) or per neuron (a sample's shape).
        const at::Tensor v0b = v0.dim() == 1 ? v0.reshape(vshape) : v0.dim() == 0 ? v0 : v0.unsqueeze(0);
        shift = (v0b / v).to(a.scalar_type());
    }
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(opt.seed, 0x3c, i));
    const int64_t n = s_in.size(0);
    for (int64_t it = 0; it < opt.wc_iters; ++it) {
        const at::Tensor idx = at::randint(n, {std::min(opt.wc_batch, n)}, gen, at::kLong);
        at::Tensor pre = apply_op(work, {s_in.index_select(0, idx)}, false);
        if (rest.defined()) {
            pre = pre + rest.index_select(0, idx);
        }
        const double t = static_cast<double>(T);
        const at::Tensor out = v / t * at::clamp(floor_ste(pre * t / v + shift), 0.0, t);
        const at::Tensor loss = (out - a.index_select(0, idx)).pow(2).mean();
        adam.zero_grad();
        loss.backward();
        adam.step(cosine_lr(opt.wc_lr, 0.0, it, opt.wc_iters));
    }
    o.params["weight"] = w.detach().contiguous();
    o.params["bias"] = b.detach().contiguous();
}

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
            const double clip = ann.nodes[ai].op == op_kind::clip_relu ? ann.nodes[ai].attrs.clip : 0.0;
            set_threshold(snn, i, search_threshold(pre, snn.nodes[i].tensor("v_th"), clip, T, shift, opt, gen), conv);
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
            weight_calibration(snn, i, owner, r.at(snn.nodes[owner].inputs[0]), rest, a, T, opt);
            r = cache.run(snn, i, {i}, false);
        }
        at::NoGradGuard ng;
        if (opt.bias_correction && owner >= 0) {
            node & p = snn.nodes[owner];
            const at::Tensor mu = channel_mean(a - r.at(i));
            p.params["bias"] = (p.params.count("bias") ? p.params.at("bias") + mu : mu).contiguous();
            if (opt.potential_correction) {
                r = cache.run(snn, i, {i}, false);
            }
        }
        if (opt.potential_correction) {
            node & n = snn.nodes[i];
            const at::Tensor pc = (a - r.at(i)).mean(0) * static_cast<double>(T); // per neuron [C, H, W]
            const at::Tensor v0 = n.tensor("v0");
            n.buffers["v0"] = (v0.defined() ? pc + (v0.dim() == 1 && pc.dim() > 1
                                                        ? v0.reshape({-1, 1, 1}).expand(pc.sizes())
                                                        : v0.expand(pc.sizes()))
                                            : pc)
                                  .contiguous();
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
