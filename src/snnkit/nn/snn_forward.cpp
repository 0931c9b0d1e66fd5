// snnkit/nn/snn_forward.cpp
#include "snnkit/nn/snn_forward.h"

#include <ATen/Parallel.h>

#include "snnkit/core/error.h"
#include "snnkit/core/parallel_items.h"
#include "snnkit/core/rng.h"
#include "snnkit/nn/snn_chunk.h"
#include "snnkit/nn/snn_gather.h"
#include "snnkit/nn/spike_bits_packer.h"
#include "snnkit/nn/spike_conv_bf16.h"
#include "snnkit/nn/spike_conv_int8.h"
#include "snnkit/nn/spike_gather.h"
#include "snnkit/nn/spike_gather_pool.h"
#include "snnkit/nn/spike_gather_table.h"
#include "snnkit/nn/spike_pack_bf16.h"
#include "snnkit/nn/spike_sparse.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

namespace snnkit {

namespace {

using value = snn_node_value;

at::Tensor to_folded(const value & v, int64_t T) {
    if (v.temporal) {
        return v.t;
    }
    std::vector<int64_t> s = v.t.sizes().vec();
    std::vector<int64_t> e{T};
    e.insert(e.end(), s.begin(), s.end());
    s[0] *= T;
    return v.t.unsqueeze(0).expand(e).reshape(s);
}

at::Tensor unfold_time(const at::Tensor & folded, int64_t T) {
    std::vector<int64_t> s = folded.sizes().vec();
    std::vector<int64_t> r{T, s[0] / T};
    r.insert(r.end(), s.begin() + 1, s.end());
    return folded.reshape(r);
}

// Dropout of a temporal value [T*N, ...] with one mask [1, N, ...] for all T steps (inverted scaling).
at::Tensor dropout_shared_over_time(const at::Tensor & folded, double p, int64_t T, const at::Generator & gen) {
    if (p <= 0) {
        return folded;
    }
    const at::Tensor xt = unfold_time(folded, T);
    std::vector<int64_t> ms = xt.sizes().vec();
    ms[0] = 1;
    const at::Tensor keep = dropout_inverted(at::ones(ms, xt.options()), p, gen); // 0 or 1 / (1 - p)
    return (xt * keep).flatten(0, 1);
}

// The layer computed event-driven when opt.sparse allows it and sparse_path_wins says so for the input's measured
// nonzero fraction; an undefined tensor when the dense kernel should run.
at::Tensor sparse_layer(const node & n, const at::Tensor & x, const snn_options & opt) {
    const bool conv = n.op == op_kind::conv2d && n.attrs.groups == 1 && n.attrs.dilation[0] == 1 &&
                      n.attrs.dilation[1] == 1 && x.dim() == 4;
    const bool lin = n.op == op_kind::linear && x.dim() == 2;
    if (!opt.sparse || opt.train || at::GradMode::is_enabled() || (!conv && !lin) || x.scalar_type() != at::kFloat) {
        return at::Tensor();
    }
    if (!sparse_path_wins(conv ? "conv2d" : "linear", nonzero_fraction(x))) {
        return at::Tensor();
    }
    const at::Tensor rows = sparse_weight_rows(n.tensor("weight"));
    return conv ? sparse_conv2d(x, rows, n.tensor("bias"), n.attrs.kernel, n.attrs.stride, n.attrs.padding)
                : sparse_linear(x, rows, n.tensor("bias"));
}

// The layer on AMX-BF16 when opt.spike_bf16 allows it (inference) and spike_bf16_applies; an undefined tensor when
// the float kernel should run.
at::Tensor spike_bf16_layer(const graph & g, const node & n, const at::Tensor & x, const snn_options & opt) {
    if (!opt.spike_bf16 || opt.train || at::GradMode::is_enabled() || !spike_bf16_applies(g, n, x)) {
        return at::Tensor();
    }
    if (opt.spike_bf16_cache != nullptr) {
        return spike_bf16_conv(g, n, x, *opt.spike_bf16_cache, opt.spike_bf16_parts, opt.spike_int8);
    }
    spike_conv_bf16_cache once; // prepares the layer for this call only
    return spike_bf16_conv(g, n, x, once, opt.spike_bf16_parts, opt.spike_int8);
}

// Whether a spike node's input xt ([T, N, C, H, W], or one static step [N, C, H, W]) is laid out channels last
// (a convolution's output: conv_layout, or the AMX convolution's) and the node runs on it as it is, in
// training too: the layout only changes where each neuron's values lie, and the views below carry the gradient.
// Observers then see channels-last values too (stats_collector sums them in their own order: summing them into a
// contiguous [C, H, W] made eval --spike-bf16 3x slower).
bool channels_last_input(const at::Tensor & xt) {
    if ((xt.dim() != 5 && xt.dim() != 4) || xt.is_contiguous()) {
        return false;
    }
    return xt.dim() == 5 ? xt.permute({0, 1, 3, 4, 2}).is_contiguous() : xt.permute({0, 2, 3, 1}).is_contiguous();
}

// The spike node on a channels-last input without copying it to [T, N, C, H, W] (snn_channels_last_neurons: the
// same neurons as [T, N*H*W, C], so a per-channel V_th or v(0) applies unchanged). Spikes and the final potential come back as
// [T, N, C, H, W] and [N, C, H, W] views with channels-last strides (the next convolution takes them as they are).
// xt may also be one static step [N, C, H, W], run T times (neuron_forward_repeated).
neuron_result neuron_forward_channels_last(const at::Tensor & xt, int64_t T, const node & n, const at::Tensor & v0,
                                           const at::Tensor & x_add = {}) {
    const snn_neuron_view nv = snn_channels_last_neurons(xt, T, v0, x_add);
    const int64_t N = nv.N, C = nv.C, H = nv.H, W = nv.W;
    neuron_result r;
    if (nv.repeated) {
        r = neuron_forward_repeated(nv.x, T, n.tensor("v_th"), nv.v0, n.tensor("alpha"), n.attrs.neuron);
    } else {
        r = nv.x_add.defined() ? neuron_forward_sum(nv.x, nv.x_add, n.tensor("v_th"), nv.v0, n.tensor("alpha"),
                                                    n.attrs.neuron)
                               : neuron_forward(nv.x, n.tensor("v_th"), nv.v0, n.tensor("alpha"), n.attrs.neuron);
    }
    r.spikes = r.spikes.view({T, N, H, W, C}).permute({0, 1, 4, 2, 3});
    r.v = r.v.view({N, H, W, C}).permute({0, 3, 1, 2});
    return r;
}

// A converted max-pool on a time-varying input [T*N, C, H, W]: the gate by accumulated input (spike_max_pool),
// from the state in opt.pool_init, its final state into res.pool_state. Returns [T*N, C, H', W'].
at::Tensor gated_max_pool(const node & n, int i, const at::Tensor & folded, int64_t T, const snn_options & opt,
                          snn_output & res) {
    spike_max_pool_options po;
    po.kernel = n.attrs.kernel;
    po.stride = n.attrs.stride;
    po.padding = n.attrs.padding;
    spike_max_pool_state init;
    if (opt.pool_init && opt.pool_init->count(i)) {
        init = opt.pool_init->at(i);
    }
    spike_max_pool_result r;
    try {
        r = spike_max_pool(unfold_time(folded, T), po, init);
    } catch (const snnkit::error & e) {
        fail("layer '" + n.name + "'", e.what());
    }
    res.pool_state[i] = r.state;
    return r.out.flatten(0, 1);
}

// Threads that run the groups of a batch of n images side by side (snn_options::group_workers): 1 where the
// batch has fewer images than the intra-op threads (each worker would run single-threaded while threads idle).
int64_t group_workers(const snn_options & opt, int64_t n) {
    if (opt.group_workers < 0) {
        fail("group_workers", "must be 0 (the intra-op threads) or more, got " + std::to_string(opt.group_workers));
    }
    if (opt.observer || opt.spike_bf16 || at::in_parallel_region()) {
        return 1;
    }
    const int64_t w = opt.group_workers > 0 ? opt.group_workers : at::get_num_threads();
    return n >= w ? w : 1;
}

// How a batch runs in groups: images per group (0: the whole batch at once) and the threads side by side.
struct group_plan {
    int64_t per = 0;
    int64_t workers = 1;
};

// The groups when the run may go in groups (snn_options::chunk) and a group is smaller than the batch of n_batch.
group_plan group_images(const graph & g, const snn_options & opt, const std::vector<at::Tensor> * v_init,
                        int64_t n_batch) {
    const bool whole_inference = !opt.train && !at::GradMode::is_enabled() && opt.stop_at < 0 && opt.first == 0 &&
                                 opt.hold.empty() && opt.resume == nullptr && v_init == nullptr &&
                                 opt.pool_init == nullptr && (!opt.observer || opt.observe_in_groups);
    if (!whole_inference || opt.chunk < 0 || n_batch < 2) {
        return {};
    }
    const int64_t workers = group_workers(opt, n_batch);
    const int64_t per = opt.chunk > 0 ? opt.chunk : snn_chunk_images(snn_profile_of(g), opt.T, n_batch, workers);
    return per < n_batch ? group_plan{per, workers} : group_plan{};
}

// Tensors of the groups joined along dimension d; undefined when any is.
at::Tensor join(const std::vector<at::Tensor> & parts, int64_t d) {
    for (const at::Tensor & t : parts) {
        if (!t.defined()) {
            return at::Tensor();
        }
    }
    return at::cat(parts, d);
}

// snn_forward over the batch in groups of plan.per images, plan.workers of them side by side (batch dimension bd
// of x: 1 time-major, else 0).
snn_output forward_in_groups(const graph & g, const at::Tensor & x, int64_t bd, const group_plan & plan,
                             const snn_options & opt) {
    const int64_t per = plan.per;
    snn_options one = opt;
    one.chunk = -1;
    const int64_t n = x.size(bd), groups = (n + per - 1) / per;
    std::vector<snn_output> outs(static_cast<size_t>(groups));
    parallel_items(groups, static_cast<int>(plan.workers), [&](int64_t k) {
        outs[static_cast<size_t>(k)] = snn_forward(g, x.narrow(bd, k * per, std::min(per, n - k * per)), one);
    });
    snn_output res;
    std::vector<at::Tensor> parts;
    for (const snn_output & o : outs) {
        parts.push_back(o.out);
    }
    res.out = join(parts, 1); // [T, N, ...]
    res.v.resize(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        parts.clear();
        for (const snn_output & o : outs) {
            parts.push_back(o.v[i]);
        }
        res.v[i] = join(parts, 0); // [N, ...]
    }
    for (const auto & kv : outs.front().pool_state) {
        std::vector<at::Tensor> sums, gates;
        for (const snn_output & o : outs) {
            sums.push_back(o.pool_state.at(kv.first).sum);
            gates.push_back(o.pool_state.at(kv.first).gate);
        }
        res.pool_state[kv.first] = spike_max_pool_state{join(sums, 0), join(gates, 0)};
    }
    return res;
}

} // namespace

input_norm input_normalisation(const std::vector<float> & mean, const std::vector<float> & std, const at::Tensor & x) {
    input_norm r;
    if (mean.empty()) {
        return r;
    }
    const int64_t c = x.dim() >= 2 ? x.size(1) : 1;
    const auto fits = [&](size_t k) { return k == 1 || static_cast<int64_t>(k) == c; };
    if (!fits(mean.size()) || std.size() != mean.size()) {
        fail("input normalisation", "has " + std::to_string(mean.size()) + " means and " + std::to_string(std.size()) +
                                        " stds for " + std::to_string(c) + " input channels");
    }
    std::vector<int64_t> shape(static_cast<size_t>(std::max<int64_t>(x.dim(), 2)), 1);
    shape[1] = static_cast<int64_t>(mean.size());
    const auto opts = at::TensorOptions().dtype(at::kFloat);
    r.mean = at::tensor(at::ArrayRef<float>(mean), opts).reshape(shape).to(x.scalar_type());
    r.std = at::tensor(at::ArrayRef<float>(std), opts).reshape(shape).to(x.scalar_type());
    return r;
}

snn_output snn_forward(const graph & g, const at::Tensor & x, const snn_options & opt,
                       const std::vector<at::Tensor> * v_init) {
    const int64_t T = opt.T;
    if (T < 1) {
        fail("--T", "the number of time steps must be at least 1, got " + std::to_string(T));
    }
    const auto & is = g.input_shape;
    const bool time_major = x.dim() == static_cast<int64_t>(is.size()) + 2 && x.sizes().slice(2).vec() == is;
    if (time_major || (x.dim() == static_cast<int64_t>(is.size()) + 1 && opt.encoding == "direct")) {
        const int64_t bd = time_major ? 1 : 0;
        if (const group_plan plan = group_images(g, opt, v_init, x.size(bd)); plan.per > 0) {
            return forward_in_groups(g, x, bd, plan, opt);
        }
    }
    value in;
    if (time_major) {
        if (x.size(0) != T) {
            fail("input", "time-major input has " + std::to_string(x.size(0)) + " steps, expected T = " +
                              std::to_string(T));
        }
        in.t = x.reshape([&] {
            std::vector<int64_t> s{x.size(0) * x.size(1)};
            s.insert(s.end(), is.begin(), is.end());
            return s;
        }());
        in.temporal = true;
    } else if (x.dim() == static_cast<int64_t>(is.size()) + 1 && x.sizes().slice(1).vec() == is) {
        if (opt.encoding == "direct") {
            in.t = x;
        } else if (opt.encoding == "poisson") {
            at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(opt.seed, 0x9015));
            std::vector<int64_t> s{T};
            s.insert(s.end(), x.sizes().begin(), x.sizes().end());
            const input_norm norm = input_normalisation(opt.input_mean, opt.input_std, x);
            const at::Tensor raw = norm.mean.defined() ? x * norm.std + norm.mean : x;
            const at::Tensor p = raw.clamp(0.0, 1.0).unsqueeze(0).expand(s);
            at::Tensor spikes = at::bernoulli(p, gen).to(x.scalar_type());
            if (norm.mean.defined()) {
                spikes = (spikes - norm.mean) / norm.std;
            }
            in.t = spikes.reshape([&] {
                std::vector<int64_t> f{T * x.size(0)};
                f.insert(f.end(), is.begin(), is.end());
                return f;
            }());
            in.temporal = true;
        } else {
            fail("--encoding " + opt.encoding, "unknown input encoding (known: direct, poisson)");
        }
    } else {
        fail("input", "expected [N, ...] or [T, N, ...] matching the model's input shape");
    }

    std::vector<int> uses = g.consumer_counts();
    // In inference without an observer, a residual add of two time-varying values whose only reader is a spike
    // node is not formed: the neuron kernel adds its two inputs as it reads them (neuron_forward_sum), and the
    // [T*N, ...] sum is never written. sole[k]: node k's one reader, or -1.
    const bool fuse_adds = !opt.train && !at::GradMode::is_enabled() && !opt.observer;
    std::vector<int> sole(g.nodes.size(), -1);
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        for (int j : g.nodes[k].inputs) {
            sole[j] = uses[j] == 1 ? static_cast<int>(k) : -1;
        }
    }
    std::map<int, std::pair<at::Tensor, at::Tensor>> deferred; // add node -> its two folded inputs
    std::map<int, at::Tensor> pools_left;                      // pool node -> its folded spikes (snn_pool_left_to_gather)
    // the node a convolution reads (a spike node, or the pooling left to it) -> the spikes as bits (snn_spikes_go_packed)
    std::map<int, snn_packed_spikes> packed_left;
    std::vector<value> vals(g.nodes.size());
    snn_output res;
    res.v.resize(g.nodes.size());
    const int last = opt.stop_at >= 0 ? opt.stop_at : static_cast<int>(g.nodes.size()) - 1;
    std::vector<at::Tensor> ins;
    if (opt.first > 0) {
        if (!opt.resume) {
            fail("snn_forward", "a run that starts at node " + std::to_string(opt.first) + " needs the values before it");
        }
        for (const auto & kv : *opt.resume) {
            if (kv.first < opt.first) {
                vals[kv.first] = kv.second;
            }
        }
        for (int i = opt.first; i <= last; ++i) {
            for (int j : g.nodes[i].inputs) {
                if (j < opt.first && !vals[j].t.defined()) {
                    fail("snn_forward", "node '" + g.nodes[i].name + "' reads node '" + g.nodes[j].name +
                                            "', which is neither run nor given");
                }
            }
        }
    }
    for (int i = opt.first; i <= last; ++i) {
        const node & n = g.nodes[i];
        value out;
        if (n.op == op_kind::input) {
            out = in;
        } else if (n.op == op_kind::spike) {
            const value & src = vals[n.inputs[0]];
            // a static input (the same at every step: direct encoding's first layers) is read T times by the
            // kernel, not copied T times; a temporal one is [T, N, ...]; a deferred add: its two inputs
            at::Tensor xt, x_add;
            if (const auto d = deferred.find(n.inputs[0]); d != deferred.end()) { // any layouts (read as they lie)
                xt = unfold_time(d->second.first, T);
                x_add = unfold_time(d->second.second, T);
                deferred.erase(d);
            } else {
                xt = src.temporal ? unfold_time(src.t, T) : src.t;
            }
            const at::IntArrayRef step = src.temporal ? xt.sizes().slice(1) : xt.sizes();
            at::Tensor v0 = n.tensor("v0");
            if (v_init && static_cast<size_t>(i) < v_init->size() && (*v_init)[i].defined()) {
                v0 = (*v_init)[i];
            }
            if (v0.defined() && v0.dim() >= 1 && v0.dim() == static_cast<int64_t>(step.size()) - 1 &&
                v0.sizes() == step.slice(1)) {
                v0 = v0.unsqueeze(0).expand(step).contiguous(); // one potential per neuron, shared by the batch
            }
            neuron_result r;
            // spikes that one convolution gathers over are packed as bits while they are made, never stored as floats
            const snn_pack_plan plan =
                channels_last_input(xt) ? snn_spikes_go_packed(g, i, sole, last, xt, opt) : snn_pack_plan{};
            const bool to_bits = plan.conv >= 0;
            try {
                if (to_bits) {
                    packed_left[plan.pool >= 0 ? plan.pool : i] = snn_spike_to_bits(g, n, plan, xt, T, v0, x_add, &r.v);
                } else if (channels_last_input(xt)) {
                    r = neuron_forward_channels_last(xt, T, n, v0, x_add);
                } else if (!src.temporal) {
                    r = neuron_forward_repeated(xt, T, n.tensor("v_th"), v0, n.tensor("alpha"), n.attrs.neuron);
                } else if (x_add.defined()) {
                    r = neuron_forward_sum(xt, x_add, n.tensor("v_th"), v0, n.tensor("alpha"), n.attrs.neuron);
                } else {
                    r = neuron_forward(xt, n.tensor("v_th"), v0, n.tensor("alpha"), n.attrs.neuron); // alpha: PLIF's
                }
            } catch (const snnkit::error & e) {
                fail("layer '" + n.name + "'", e.what());
            }
            out.t = to_bits ? at::Tensor() : r.spikes.flatten(0, 1); // [T, N, ...] -> [T*N, ...] (a view)
            out.temporal = true;
            res.v[i] = r.v;
        } else if (is_ann_activation(n.op)) {
            fail("layer '" + n.name + "'", "ANN activation left in an SNN (convert the model first)");
        } else {
            bool left_to_conv = false; // an average pooling of packed spikes: its convolution reads the bits
            bool gather_declined = false; // packed spikes too many for gathering: not packed and asked again
            if (const auto p = n.inputs.empty() ? pools_left.end() : pools_left.find(n.inputs[0]);
                p != pools_left.end()) { // the pooling left to this convolution
                const at::Tensor spikes = p->second;
                pools_left.erase(p);
                out.t = snn_gather_pooled_layer(g, n, spikes, opt);
                if (!out.t.defined()) { // the dense kernel runs: the pooled map after all
                    vals[n.inputs[0]].t = apply_op(g.nodes[n.inputs[0]], {spikes}, false);
                    vals[n.inputs[0]].temporal = true;
                }
            } else if (n.op == op_kind::avg_pool && packed_left.count(i) != 0) {
                left_to_conv = true; // its convolution reads the packed spikes of its windows
            } else if (const auto b = n.inputs.empty() ? packed_left.end() : packed_left.find(n.inputs[0]);
                       b != packed_left.end()) { // the spikes packed for this convolution
                const snn_packed_spikes & ps = b->second;
                out.t = snn_gather_packed_layer(n, ps, opt);
                if (!out.t.defined()) { // the dense kernel runs: the float spikes after all
                    gather_declined = true;
                    const int s = ps.pool >= 0 ? g.nodes[ps.pool].inputs[0] : n.inputs[0];
                    vals[s].t = spike_bits_unpack(ps.bits, ps.H, ps.W, ps.window, ps.amp);
                    if (ps.pool >= 0) {
                        vals[ps.pool].t = apply_op(g.nodes[ps.pool], {vals[s].t}, false);
                    }
                }
                packed_left.erase(b);
            }
            ins.clear();
            bool any_temporal = false;
            for (int j : n.inputs) {
                any_temporal |= vals[j].temporal;
            }
            for (int j : n.inputs) {
                ins.push_back(any_temporal ? to_folded(vals[j], T) : vals[j].t);
            }
            const int reader = sole[i];
            if (out.t.defined() || left_to_conv) {
                // computed above (snn_gather_pooled_layer, snn_gather_packed_layer), or left to the convolution
            } else if (any_temporal && snn_pool_left_to_gather(g, i, reader, last, opt)) {
                pools_left[i] = ins[0]; // formed by its reader if that reader runs dense
            } else if (fuse_adds && n.op == op_kind::add && n.inputs.size() == 2 && vals[n.inputs[0]].temporal &&
                vals[n.inputs[1]].temporal && reader >= 0 && reader <= last && g.nodes[reader].op == op_kind::spike &&
                std::find(opt.hold.begin(), opt.hold.end(), i) == opt.hold.end()) {
                deferred[i] = {ins[0], ins[1]}; // formed inside the spike node's kernel
            } else if (n.op == op_kind::max_pool && n.attrs.gated && any_temporal) {
                out.t = gated_max_pool(n, i, ins[0], T, opt, res);
            } else if (n.op == op_kind::dropout && opt.train && any_temporal && opt.dropout_shared) {
                out.t = dropout_shared_over_time(ins[0], n.attrs.p, T, opt.dropout_generator);
            } else {
                out.t = any_temporal ? spike_bf16_layer(g, n, ins[0], opt) : at::Tensor();
                if (!out.t.defined() && any_temporal && !gather_declined) {
                    out.t = snn_gather_layer(g, n, ins[0], opt);
                }
                if (!out.t.defined() && any_temporal) {
                    out.t = sparse_layer(n, ins[0], opt);
                }
                if (!out.t.defined()) {
                    out.t = apply_op(n, ins, opt.train, opt.dropout_generator); // (conv_layout for a conv)
                }
            }
            out.temporal = any_temporal;
        }
        vals[i] = out;
        if (std::find(opt.hold.begin(), opt.hold.end(), i) != opt.hold.end()) {
            res.held[i] = out;
        }
        if (opt.observer) {
            if (out.temporal) {
                opt.observer(i, n, unfold_time(out.t, T));
            } else { // a static value is the same at every step: a broadcast view, no copy
                std::vector<int64_t> e{T};
                e.insert(e.end(), out.t.sizes().begin(), out.t.sizes().end());
                opt.observer(i, n, out.t.unsqueeze(0).expand(e));
            }
        }
        if (n.op != op_kind::input) {
            for (int j : n.inputs) {
                if (--uses[j] == 0 && j != last) {
                    vals[j] = value();
                }
            }
        }
    }
    res.out = unfold_time(to_folded(vals[last], T), T);
    return res;
}

int spike_bf16_source(const graph & g, const node & n, int * levels) {
    if (levels != nullptr) {
        *levels = 1;
    }
    if (n.inputs.empty()) {
        return -1;
    }
    const int in = n.inputs[0];
    if (g.nodes[in].op == op_kind::spike) {
        return in;
    }
    const node & pool = g.nodes[in];
    const int64_t area = pool.attrs.kernel[0] * pool.attrs.kernel[1];
    const bool whole_windows = (pool.attrs.padding[0] == 0 && pool.attrs.padding[1] == 0) || pool.attrs.count_include_pad;
    if (pool.op != op_kind::avg_pool || !whole_windows || area < 1 || area > spike_pack_max_levels || pool.inputs.empty() ||
        g.nodes[pool.inputs[0]].op != op_kind::spike) {
        return -1;
    }
    if (levels != nullptr) {
        *levels = static_cast<int>(area);
    }
    return pool.inputs[0];
}

bool spike_bf16_applies(const graph & g, const node & n, const at::Tensor & x) {
    return spike_conv_bf16_available() && spike_conv_source(g, n, x, nullptr) >= 0 &&
           spike_conv_bf16_wins(x, n.attrs.kernel, n.attrs.stride, n.attrs.padding, n.attrs.dilation);
}

int spike_conv_source(const graph & g, const node & n, const at::Tensor & x, int * levels) {
    if (n.op != op_kind::conv2d || n.attrs.groups != 1 || x.dim() != 4 || x.scalar_type() != at::kFloat) {
        return -1;
    }
    const int src = spike_bf16_source(g, n, levels);
    if (src < 0) {
        return -1;
    }
    const at::Tensor amp = spike_amplitude(g.nodes[src]);
    return !amp.defined() || amp.numel() == 1 || amp.numel() == x.size(1) ? src : -1; // not an amplitude per neuron
}

at::Tensor spike_bf16_conv(const graph & g, const node & n, const at::Tensor & x, spike_conv_bf16_cache & cache,
                           int nparts, bool int8) {
    int levels = 1;
    const int src = spike_bf16_source(g, n, &levels);
    if (src < 0) {
        fail(n.name, "spike_bf16_conv: the layer's input comes from no spike node");
    }
    return cache.conv2d(x, n.tensor("weight"), spike_amplitude(g.nodes[src]), n.tensor("bias"), n.attrs.kernel,
                        n.attrs.stride, n.attrs.padding, n.attrs.dilation, nparts, levels,
                        int8 && spike_int8_applies(x.size(1), levels));
}

at::Tensor spike_amplitude(const node & spike_node) {
    return spike_node.attrs.neuron.spike_vth ? spike_node.tensor("v_th") : at::Tensor();
}

at::Tensor correct_per_step(const at::Tensor & out, const at::Tensor & labels) {
    const at::Tensor cum = out.detach().cumsum(0); // argmax of the running sum = argmax of the running mean
    return cum.argmax(2).eq(labels.unsqueeze(0)).sum(1);
}

} // namespace snnkit
