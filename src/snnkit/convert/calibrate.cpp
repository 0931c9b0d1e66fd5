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

#include <algorithm>
#include <functional>
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

// The values of the ANN nodes in `want` on one chunk of images (one forward to the last of them).
std::map<int, at::Tensor> ann_values(const graph & ann, const at::Tensor & xc, const std::vector<int> & want) {
    at::NoGradGuard ng;
    std::map<int, at::Tensor> r;
    forward_options fo;
    fo.stop_at = *std::max_element(want.begin(), want.end());
    fo.observer = [&](int i, const node &, const at::Tensor & out) {
        if (std::find(want.begin(), want.end(), i) != want.end()) {
            r[i] = out;
        }
    };
    ann_forward(ann, xc, fo);
    return r;
}

// The SNN's rates (mean over T, in the ANN's units) of the nodes in `want` on one chunk of images.
std::map<int, at::Tensor> snn_chunk_rates(const graph & snn, const at::Tensor & xc, int64_t T, const std::vector<int> & want) {
    at::NoGradGuard ng;
    std::map<int, at::Tensor> r;
    snn_options so;
    so.T = T;
    so.stop_at = *std::max_element(want.begin(), want.end());
    so.observer = [&](int i, const node &, const at::Tensor & out) {
        if (std::find(want.begin(), want.end(), i) != want.end()) {
            r[i] = out.mean(0);
        }
    };
    snn_forward(snn, xc, so);
    return r;
}

// The values one spike layer's threshold search measures its error on, gathered chunk by chunk: all of them when
// there are at most `keep` per row, else the seeded draw calib_threshold_search makes on the whole tensor (the
// same generator call for all values), each drawn position filled from the chunk that holds it. So the sample,
// and the threshold, do not depend on the chunking, and equal the all-at-once search with the same generator.
struct search_sample {
    at::Tensor sorted_pos;  ///< drawn positions in a row of all values, ascending (undefined: every value is kept)
    at::Tensor slot;        ///< where each sorted position goes in the sample
    at::Tensor values;      ///< [rows, keep] when drawn
    std::vector<at::Tensor> all;  ///< the chunks' values in order, when every value is kept
};

// xs: this chunk's [rows, per_image * images] values of images [s, e) out of n.
void search_sample_take(search_sample & ss, const at::Tensor & xs, int64_t s, int64_t e, int64_t n, int64_t keep,
                        at::Generator & gen) {
    const int64_t per_image = xs.size(1) / std::max<int64_t>(1, e - s), m = per_image * n;
    if (s == 0 && m > keep) {  // the first chunk: draw as calib_threshold_search does over all m values
        const at::Tensor pos = at::randint(m, {keep}, gen, at::kLong);
        std::tie(ss.sorted_pos, ss.slot) = pos.sort();
        ss.values = at::empty({xs.size(0), keep}, xs.options());
    }
    if (!ss.sorted_pos.defined()) {
        ss.all.push_back(xs);
        return;
    }
    const int64_t * p = ss.sorted_pos.data_ptr<int64_t>();
    const int64_t lo = std::lower_bound(p, p + keep, s * per_image) - p, hi = std::lower_bound(p, p + keep, e * per_image) - p;
    if (hi > lo) {
        const at::Tensor local = ss.sorted_pos.slice(0, lo, hi) - s * per_image;
        ss.values.index_copy_(1, ss.slot.slice(0, lo, hi), xs.index_select(1, local));
    }
}

// The sample once every chunk was taken: [rows, keep] drawn values, or all values in image order.
at::Tensor search_sample_values(const search_sample & ss) { return ss.values.defined() ? ss.values : at::cat(ss.all, 1); }

// The threshold search of every spike layer in one streamed ANN pass: per layer (or channel) the maximum of
// all pre-activations (the grid's top) and the values the error is measured on (search_sample: all, or at most
// opt.search_values of them by the all-at-once search's seeded draw).
void search_thresholds(graph & snn, const graph & ann, const at::Tensor & x, const std::vector<int> & spikes, int64_t chunk,
                       const convert_options & conv, const calib_options & opt) {
    const int64_t n = x.size(0);
    std::vector<int> pre; // ANN node feeding each spike layer's ReLU
    for (int i : spikes) {
        pre.push_back(ann.nodes[ann.find(snn.nodes[i].name)].inputs[0]);
    }
    std::vector<at::Tensor> top(spikes.size());
    std::vector<search_sample> samples(spikes.size());
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(opt.seed, 0xca1));
    progress_bar bar("calibrate: threshold search", n, opt.progress);
    for (int64_t s = 0; s < n; s += chunk) {
        const int64_t e = std::min(n, s + chunk);
        const std::map<int, at::Tensor> vals = ann_values(ann, x.slice(0, s, e), pre);
        for (size_t k = 0; k < spikes.size(); ++k) {  // layers in order: the draws come in calib_threshold_search's order
            const at::Tensor v = vals.at(pre[k]);
            const bool per_channel = snn.nodes[spikes[k]].tensor("v_th").dim() == 1 && v.dim() >= 2;
            const at::Tensor xs = per_channel ? v.transpose(0, 1).reshape({v.size(1), -1}) : v.reshape({1, -1});
            const at::Tensor mx = xs.amax(1, true);
            top[k] = top[k].defined() ? at::maximum(top[k], mx) : mx;
            search_sample_take(samples[k], xs, s, e, n, std::max<int64_t>(1, opt.search_values / xs.size(0)), gen);
        }
        bar.update(e);
    }
    bar.finish();
    for (size_t k = 0; k < spikes.size(); ++k) {
        const int i = spikes[k];
        const int ai = ann.find(snn.nodes[i].name);
        threshold_search_options so;
        so.grid = opt.grid;
        const node & an = ann.nodes[ai];
        // the ANN's clip: a clipped ReLU's clip, a QCFS layer's lambda (target clamp(x, 0, lambda))
        so.clip = an.op == op_kind::clip_relu ? an.attrs.clip
                  : an.op == op_kind::qcfs    ? an.tensor("lambda").item<double>()
                                              : 0.0;
        so.shift = convert_shift(conv);
        set_threshold(snn, i, calib_threshold_grid(search_sample_values(samples[k]), top[k], snn.nodes[i].tensor("v_th"), conv.T, so), conv);
    }
}

// What one streamed pass over x measures for spike node i (with the network's current parameters).
struct layer_pass {
    /// the spike node and its ANN node
    int i = -1, ai = -1;
    /// the squared error of node i is summed over the first report_n images
    int64_t report_n = 0;
    /// also sum e per channel and per neuron over all images (BC, PC)
    bool sums = false;
    /// an earlier spike node whose squared error (its error after calibration) is summed over its first
    /// prev_report_n images in the same pass (-1: none)
    int prev = -1, prev_ai = -1;
    int64_t prev_report_n = 0;
    /// WC: keep the rates of these nodes (the layer's input, then the residual add's other inputs) and the ANN
    /// activation for the images wc_rows (sorted; computed from the first chunk's sizes by wc_pick)
    std::vector<int> wc_inputs;
    std::function<at::Tensor(int64_t bytes_per_image)> wc_pick;
};

struct pass_result {
    at::Tensor e_sum_channel; ///< [C] double
    at::Tensor e_sum_neuron;  ///< one sample's shape, double
    double sq = 0, prev_sq = 0;
    int64_t sq_count = 0, prev_count = 0; // elements summed
    std::vector<at::Tensor> wc_in; // per WC input: its rates on WC's images [rows, ...]
    at::Tensor wc_a;               // the ANN activation on them
    int64_t wc_rows = 0;
};

pass_result run_pass(const graph & snn, const graph & ann, const at::Tensor & x, int64_t T, int64_t chunk,
                     const layer_pass & lp) {
    at::NoGradGuard ng;
    const int64_t n = x.size(0);
    pass_result r;
    std::vector<int> snn_want{lp.i}, ann_want{lp.ai};
    if (lp.prev >= 0) {
        snn_want.push_back(lp.prev);
        ann_want.push_back(lp.prev_ai);
    }
    snn_want.insert(snn_want.end(), lp.wc_inputs.begin(), lp.wc_inputs.end());
    at::Tensor rows;      // WC's images, global indices
    int64_t filled = 0;   // rows stored so far
    for (int64_t s = 0; s < n; s += chunk) {
        const int64_t e = std::min(n, s + chunk);
        const at::Tensor xc = x.slice(0, s, e);
        const std::map<int, at::Tensor> a = ann_values(ann, xc, ann_want);
        const std::map<int, at::Tensor> rate = snn_chunk_rates(snn, xc, T, snn_want);
        const at::Tensor err = (a.at(lp.ai) - rate.at(lp.i)).to(at::kDouble);
        if (a.at(lp.ai).sizes() != rate.at(lp.i).sizes()) {
            fail("layer '" + snn.nodes[lp.i].name + "'", "SNN rates and ANN activations differ in shape");
        }
        if (s < lp.report_n) {
            const at::Tensor part = err.slice(0, 0, std::min(e, lp.report_n) - s);
            r.sq += part.pow(2).sum().item<double>();
            r.sq_count += part.numel();
        }
        if (lp.prev >= 0 && s < lp.prev_report_n) {
            const at::Tensor part = (a.at(lp.prev_ai) - rate.at(lp.prev)).to(at::kDouble).slice(0, 0, std::min(e, lp.prev_report_n) - s);
            r.prev_sq += part.pow(2).sum().item<double>();
            r.prev_count += part.numel();
        }
        if (lp.sums) {
            std::vector<int64_t> dims{0}; // every dim but the channel
            for (int64_t d = 2; d < err.dim(); ++d) {
                dims.push_back(d);
            }
            const at::Tensor c = err.sum(dims), nn = err.sum(0);
            r.e_sum_channel = r.e_sum_channel.defined() ? r.e_sum_channel + c : c;
            r.e_sum_neuron = r.e_sum_neuron.defined() ? r.e_sum_neuron + nn : nn;
        }
        if (lp.wc_pick) {
            if (!rows.defined()) {
                int64_t per_image = a.at(lp.ai)[0].numel();
                for (int j : lp.wc_inputs) {
                    per_image += rate.at(j)[0].numel();
                }
                rows = lp.wc_pick(per_image * static_cast<int64_t>(sizeof(float)));
                r.wc_rows = rows.numel();
                const auto alloc = [&](const at::Tensor & like) { // filled chunk by chunk, no copies to join
                    std::vector<int64_t> shape = like.sizes().vec();
                    shape[0] = r.wc_rows;
                    return at::empty(shape, like.options());
                };
                for (int j : lp.wc_inputs) {
                    r.wc_in.push_back(alloc(rate.at(j)));
                }
                r.wc_a = alloc(a.at(lp.ai));
            }
            const at::Tensor local = rows.masked_select(rows.ge(s) & rows.lt(e)) - s;
            const int64_t m = local.numel();
            for (size_t q = 0; q < lp.wc_inputs.size(); ++q) {
                r.wc_in[q].slice(0, filled, filled + m).copy_(rate.at(lp.wc_inputs[q]).index_select(0, local));
            }
            r.wc_a.slice(0, filled, filled + m).copy_(a.at(lp.ai).index_select(0, local));
            filled += m;
        }
    }
    return r;
}

// The squared error summed in a pass as a mean.
double mse_of(double sq, int64_t count) { return count > 0 ? sq / static_cast<double>(count) : 0.0; }

double mean_of(const at::Tensor & t) { return t.to(at::kDouble).mean().item<double>(); }

} // namespace

int64_t calib_chunk_images(const graph & snn, const at::Tensor & x, int64_t T, const calib_options & opt) {
    if (opt.memory_budget <= 0) {
        fail("calibration", "the memory budget must be positive");
    }
    return snn_batch_for_memory(snn, x.slice(0, 0, 1), T, opt.batch_size, snn_tensor_bytes(opt.memory_budget));
}

calib_options calib_preset(const std::string & name) {
    calib_options o;
    if (name == "none") {
        return o;
    }
    if (name == "light") {
        o.half_step = o.threshold_search = o.bias_correction = true;
        return o;
    }
    if (name == "advanced") {
        o.half_step = o.threshold_search = o.weight_calibration = o.potential_correction = true;
        return o;
    }
    fail("--calib " + name, "unknown calibration preset (known: none, light, advanced)");
}

convert_options calib_conversion(convert_options conv, const calib_options & cal) {
    if (cal.half_step && !conv.bias_shift) {
        conv.half_init = true;
    }
    return conv;
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
    const int64_t T = conv.T, n = x.size(0);
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
    if (spikes.empty() || n == 0) {
        rep.seconds = seconds_since(t0);
        return rep;
    }
    // One chunk size for every pass: an SNN activation tensor of a chunk over T steps within budget / 8.
    const int64_t chunk = calib_chunk_images(snn, x, T, opt);
    rep.chunk_images = std::min(chunk, n);
    if (opt.threshold_search) {
        search_thresholds(snn, ann, x, spikes, chunk, conv, opt);
    }
    const bool per_layer = opt.bias_correction || opt.potential_correction || opt.weight_calibration;
    const int64_t report_n = opt.weight_calibration ? std::min(n, opt.report_samples) : n;
    if (!per_layer) { // no layer changes: each layer's error is measured once
        progress_bar bar("calibrate: layer errors", static_cast<int64_t>(spikes.size()), opt.progress);
        for (size_t k = 0; k < spikes.size(); ++k) {
            layer_pass lp;
            lp.i = spikes[k];
            lp.ai = ann.find(snn.nodes[lp.i].name);
            lp.report_n = report_n;
            const pass_result pr = run_pass(snn, ann, x, T, chunk, lp);
            rep.layers[k].mse_before = rep.layers[k].mse_after = mse_of(pr.sq, pr.sq_count);
            rep.layers[k].v_th_after = mean_of(snn.nodes[lp.i].tensor("v_th"));
            bar.update(static_cast<int64_t>(k + 1));
        }
        bar.finish();
        rep.seconds = seconds_since(t0);
        return rep;
    }
    progress_bar bar("calibrate: layer-wise", static_cast<int64_t>(spikes.size()), opt.progress);
    for (size_t k = 0; k < spikes.size(); ++k) {
        const int i = spikes[k];
        const int ai = ann.find(snn.nodes[i].name);
        calib_layer_report & l = rep.layers[k];
        const int owner = bias_owner(snn, i);
        layer_pass lp;
        lp.i = i;
        lp.ai = ai;
        lp.report_n = report_n;
        if (k > 0) { // the previous layer's error after its calibration, measured in this layer's first pass
            lp.prev = spikes[k - 1];
            lp.prev_ai = ann.find(snn.nodes[lp.prev].name);
            lp.prev_report_n = report_n;
        }
        const bool wc = opt.weight_calibration && owner >= 0;
        if (wc) {
            const int feed = snn.nodes[i].inputs[0];
            lp.wc_inputs.push_back(snn.nodes[owner].inputs[0]);
            if (snn.nodes[feed].op == op_kind::add) { // residual add: its other inputs enter as they are
                for (size_t q = 1; q < snn.nodes[feed].inputs.size(); ++q) {
                    lp.wc_inputs.push_back(snn.nodes[feed].inputs[q]);
                }
            }
            // all images while they fit in budget / 16, else a seeded sample of them (sorted)
            lp.wc_pick = [&, i](int64_t bytes_per_image) {
                const int64_t cap = std::max<int64_t>(1, snn_tensor_bytes(opt.memory_budget) / 2 / std::max<int64_t>(1, bytes_per_image));
                if (cap >= n) {
                    return at::arange(n, at::kLong);
                }
                at::Generator g = at::make_generator<at::CPUGeneratorImpl>(rng_mix(opt.seed, 0x5a, i));
                return std::get<0>(at::randperm(n, g, at::kLong).slice(0, 0, cap).sort());
            };
        } else {
            lp.sums = true;
        }
        pass_result pr = run_pass(snn, ann, x, T, chunk, lp);
        l.mse_before = mse_of(pr.sq, pr.sq_count);
        if (k > 0) {
            rep.layers[k - 1].mse_after = mse_of(pr.prev_sq, pr.prev_count);
        }
        if (wc) {
            const std::vector<at::Tensor> & in = pr.wc_in;
            at::Tensor rest;
            for (size_t q = 1; q < in.size(); ++q) {
                rest = rest.defined() ? rest + in[q] : in[q];
            }
            weight_calib_options wo;
            wo.iters = opt.wc_iters;
            wo.lr = opt.wc_lr;
            wo.batch = opt.wc_batch;
            wo.seed = rng_mix(opt.seed, 0x3c, i);
            node & o = snn.nodes[owner];
            std::tie(o.params["weight"], o.params["bias"]) = calib_weights(
                o, in[0], rest, pr.wc_a, snn.nodes[i].tensor("v_th"), snn.nodes[i].tensor("v0"), T, wo);
            rep.wc_images = std::max(rep.wc_images, pr.wc_rows);
            pr.wc_in.clear(); // WC's sample is no longer needed: free it before the next pass
            pr.wc_a = at::Tensor();
        }
        at::NoGradGuard ng;
        const auto remeasure = [&]() { // the sums of e with the layer's current parameters
            layer_pass again;
            again.i = i;
            again.ai = ai;
            again.sums = true;
            pr = run_pass(snn, ann, x, T, chunk, again);
        };
        if (opt.bias_correction && owner >= 0) {
            if (wc) {
                remeasure();
            }
            node & p = snn.nodes[owner];
            const at::Tensor mu =
                calib_bias_correction_from_sums(pr.e_sum_channel, n * (pr.e_sum_neuron.numel() / pr.e_sum_channel.numel()));
            p.params["bias"] = (p.params.count("bias") ? p.params.at("bias") + mu.to(p.params.at("bias").scalar_type()) : mu.to(at::kFloat)).contiguous();
            if (opt.potential_correction) {
                remeasure();
            }
        } else if (opt.potential_correction && wc) {
            remeasure();
        }
        if (opt.potential_correction) {
            node & nd = snn.nodes[i];
            const at::Tensor pc = calib_potential_correction_from_sums(pr.e_sum_neuron, n, T).to(at::kFloat);
            nd.buffers["v0"] = add_potential_correction(nd.tensor("v0"), pc);
        }
        l.v_th_after = mean_of(snn.nodes[i].tensor("v_th"));
        bar.update(static_cast<int64_t>(k + 1));
    }
    bar.finish();
    { // the last layer's error after calibration
        layer_pass lp;
        lp.i = spikes.back();
        lp.ai = ann.find(snn.nodes[lp.i].name);
        lp.report_n = report_n;
        const pass_result pr = run_pass(snn, ann, x, T, chunk, lp);
        rep.layers.back().mse_after = mse_of(pr.sq, pr.sq_count);
    }
    rep.seconds = seconds_since(t0);
    return rep;
}

} // namespace snnkit
