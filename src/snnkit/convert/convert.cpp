// snnkit/convert/convert.cpp
#include "snnkit/convert/convert.h"

#include "snnkit/core/error.h"
#include "snnkit/nn/bn_fold.h"

namespace snnkit {

double convert_shift(const convert_options & opt) { return (opt.bias_shift || opt.half_init) ? 0.5 : 0.0; }

bool is_qcfs_model(const graph & g) {
    for (const auto & n : g.nodes) {
        if (n.op == op_kind::qcfs) {
            return true;
        }
    }
    return false;
}

int bias_owner(const graph & g, int i) {
    int j = g.nodes[i].op == op_kind::spike ? g.nodes[i].inputs[0] : i;
    for (int guard = 0; guard < 64; ++guard) {
        const node & n = g.nodes[j];
        if (n.op == op_kind::conv2d || n.op == op_kind::linear) {
            return j;
        }
        if (n.op != op_kind::add) {
            return -1;
        }
        j = n.inputs[0];
    }
    return -1;
}

namespace {

at::Tensor pick_threshold(const node & n, const convert_options & opt) {
    const std::string where = "layer '" + n.name + "'";
    if (n.op == op_kind::qcfs) { // trained with its threshold: V_th = lambda
        if (opt.channel_wise || opt.threshold != "max") {
            fail(where, "a QCFS layer's threshold is its trained lambda (no --threshold " + opt.threshold +
                            (opt.channel_wise ? ", --channel-wise" : "") + ")");
        }
        return n.tensor("lambda").detach().to(at::kFloat).clone();
    }
    if (n.op == op_kind::clip_relu && !opt.channel_wise && opt.threshold == "max") {
        return at::full({}, n.attrs.clip); // a clipped ReLU's natural threshold is its clip
    }
    const char * key = opt.channel_wise ? "act_channel_max"
                       : opt.threshold == "max"    ? "act_max"
                       : opt.threshold == "p99.9"  ? "act_p99_9"
                       : opt.threshold == "p99.99" ? "act_p99_99"
                                                   : nullptr;
    if (!key) {
        fail("--threshold " + opt.threshold, "unknown threshold statistic (known: max, p99.9, p99.99, search)");
    }
    if (opt.channel_wise && opt.threshold != "max") {
        fail("--channel-wise", "per-channel thresholds use the per-channel maximum (--threshold max)");
    }
    at::Tensor v = n.tensor(key);
    if (!v.defined()) {
        fail(where, std::string("has no activation statistic '") + key +
                        "' (train with snnkit train-ann, or record statistics after import)");
    }
    v = v.detach().to(at::kFloat).clone();
    if (n.op == op_kind::clip_relu) {
        v = at::clamp_max(v, n.attrs.clip);
    }
    // A dead layer/channel (maximum 0) gets a small positive threshold: its input stays <= 0 on the
    // recorded data, and V_th > 0 keeps the neuron well defined.
    const double floor_v = std::max(1e-6, 1e-3 * v.max().item<double>());
    return at::clamp_min(v, floor_v).contiguous();
}

} // namespace

graph ann_reference(const graph & ann) {
    graph g = ann.clone();
    fold_batch_norm(g);
    for (size_t i = 1; i < g.nodes.size();) {
        if (g.nodes[i].op == op_kind::dropout) {
            g.remove_node(static_cast<int>(i));
        } else {
            ++i;
        }
    }
    return g;
}

graph convert_to_snn(const graph & ann, const convert_options & opt) {
    if (opt.T < 1) {
        fail("--T", "must be at least 1");
    }
    const bool qcfs = is_qcfs_model(ann);
    if (qcfs) {
        for (const auto & n : ann.nodes) {
            if (n.op == op_kind::relu || n.op == op_kind::clip_relu) {
                fail("layer '" + n.name + "'", "a ReLU in a model with QCFS layers: convert a model with one kind of "
                                               "activation (train-ann --act qcfs turns every ReLU into QCFS)");
            }
        }
        if (opt.bias_shift) {
            fail("--bias-shift", "a QCFS model converts with v(0) = V_th/2 already; the bias shift would add a second half step");
        }
    }
    if (opt.bias_shift && opt.half_init) {
        // Both would add the half step: floor(T x / V + 1), not the intended + 1/2.
        fail("--bias-shift --half-init", "are two forms of the same half-step shift; use one of them");
    }
    graph g = ann_reference(ann);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        node & n = g.nodes[i];
        if (n.op == op_kind::batch_norm) {
            fail("layer '" + n.name + "'", "BatchNorm that does not follow a conv/linear cannot be folded");
        }
        if (n.op == op_kind::max_pool) {
            n.attrs.gated = true; // spiking max-pool: the gate of Rueckauer et al. 2017 (nn/spike_max_pool.h)
            continue;
        }
        if (!is_ann_activation(n.op)) {
            continue;
        }
        const at::Tensor vth = pick_threshold(n, opt);
        node s;
        s.name = n.name;
        s.op = op_kind::spike;
        s.inputs = n.inputs;
        s.attrs.neuron.alpha = 1.0;
        s.attrs.neuron.reset = reset_mode::soft;
        s.attrs.neuron.spike_vth = true;
        s.buffers = n.buffers; // keep the statistics for calibration and reports
        s.buffers["v_th"] = vth;
        n = s;
    }
    // Bias shift / half-init, now that every threshold is known.
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        node & n = g.nodes[i];
        if (n.op != op_kind::spike) {
            continue;
        }
        const at::Tensor vth = n.buffers["v_th"];
        bool via_v0 = opt.half_init || qcfs; // QCFS: v(0) = V_th / 2, the shift it was trained with
        if (opt.bias_shift) {
            const int o = bias_owner(g, static_cast<int>(i));
            if (o < 0) {
                via_v0 = true; // nothing to shift: the initial potential V_th/2 does the same
            } else {
                node & p = g.nodes[o];
                const int64_t c = p.attrs.out;
                at::Tensor b = p.params.count("bias") ? p.params["bias"] : at::zeros({c});
                p.params["bias"] = (b + (vth / (2.0 * static_cast<double>(opt.T))).expand({c})).contiguous();
            }
        }
        if (via_v0) {
            n.buffers["v0"] = (vth * 0.5).contiguous();
        }
    }
    g.validate();
    return g;
}

} // namespace snnkit
