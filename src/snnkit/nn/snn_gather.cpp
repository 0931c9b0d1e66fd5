// snnkit/nn/snn_gather.cpp
#include "snnkit/nn/snn_gather.h"

#include "snnkit/core/error.h"
#include "snnkit/neuron/neuron.h"
#include "snnkit/nn/spike_bits_packer.h"
#include "snnkit/nn/spike_gather_pool.h"
#include "snnkit/nn/spike_gather_table.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

namespace snnkit {

at::Tensor snn_gather_rows_conv(const node & n, const spike_bits & bits, int64_t H, int64_t W, const at::Tensor & amp,
                                const snn_options & opt) {
    const at::Tensor w = n.tensor("weight");
    const double values = static_cast<double>(bits.bits.size(0) * bits.C * H * W);
    if (!spike_gather_wins(static_cast<double>(bits.ones) / std::max(1.0, values), w.size(0), bits.group > 1)) {
        return at::Tensor();
    }
    const at::Tensor rows = opt.gather_cache ? opt.gather_cache->rows(w, amp, bits.group)
                                             : spike_gather_rows(w, amp, 1.0 / static_cast<double>(bits.group));
    const auto & a = n.attrs;
    return spike_gather_conv2d(bits, H, W, rows, w.size(0), n.tensor("bias"), a.kernel, a.stride, a.padding);
}

at::Tensor snn_gather_bits_layer(const node & n, const spike_bits & bits, int64_t H, int64_t W, const at::Tensor & amp,
                                 const snn_options & opt) {
    const auto & a = n.attrs;
    const at::Tensor w = n.tensor("weight");
    if (spike_gather_table_bytes(w.size(1), w.size(0), a.kernel[0], a.kernel[1]) <= spike_gather_table_max_bytes) {
        // few channels: by table, 8x fewer operations than the dense kernel at any rate (spike_gather_table.h)
        const at::Tensor table =
            opt.gather_cache ? opt.gather_cache->table(w, amp) : spike_gather_table(spike_gather_rows(w, amp));
        return spike_gather_conv2d_table(bits, H, W, table, w.size(0), n.tensor("bias"), a.kernel, a.stride,
                                         a.padding);
    }
    return snn_gather_rows_conv(n, bits, H, W, amp, opt);
}

at::Tensor snn_gather_layer(const graph & g, const node & n, const at::Tensor & x, const snn_options & opt) {
    int levels = 1;
    if (!opt.sparse || opt.train || at::GradMode::is_enabled() || n.attrs.dilation[0] != 1 ||
        n.attrs.dilation[1] != 1) {
        return at::Tensor();
    }
    const int src = spike_conv_source(g, n, x, &levels);
    if (src < 0 || levels != 1) { // not fed by spikes as they are (pooled spikes are not 0 / 1)
        return at::Tensor();
    }
    const auto & a = n.attrs;
    const spike_bits bits =
        spike_gather_pack(x, a.padding[1], spike_gather_pad_right(x.size(3), a.kernel[1], a.stride[1], a.padding[1]));
    return snn_gather_bits_layer(n, bits, x.size(2), x.size(3), spike_amplitude(g.nodes[src]), opt);
}

bool snn_pool_left_to_gather(const graph & g, int i, int reader, int last, const snn_options & opt) {
    const node & n = g.nodes[i];
    if (!opt.sparse || opt.spike_bf16 || opt.train || at::GradMode::is_enabled() || opt.observer ||
        n.op != op_kind::avg_pool || n.inputs.size() != 1 || g.nodes[n.inputs[0]].op != op_kind::spike ||
        !spike_gather_pool_fits(n.attrs.kernel, n.attrs.stride, n.attrs.padding) || reader < 0 || reader > last ||
        std::find(opt.hold.begin(), opt.hold.end(), i) != opt.hold.end()) {
        return false;
    }
    const node & r = g.nodes[reader];
    return r.op == op_kind::conv2d && r.inputs.size() == 1 && r.attrs.groups == 1 && r.attrs.dilation[0] == 1 &&
           r.attrs.dilation[1] == 1;
}

at::Tensor snn_gather_pooled_layer(const graph & g, const node & n, const at::Tensor & spikes, const snn_options & opt) {
    const node & pool = g.nodes[n.inputs[0]];
    const at::Tensor amp = spike_amplitude(g.nodes[pool.inputs[0]]);
    const at::Tensor w = n.tensor("weight");
    if (spikes.dim() != 4 || spikes.scalar_type() != at::kFloat || w.dim() != 4 || w.size(1) != spikes.size(1) ||
        (amp.defined() && amp.numel() != 1 && amp.numel() != spikes.size(1))) {
        return at::Tensor();
    }
    const auto & a = n.attrs;
    const std::array<int64_t, 2> win = pool.attrs.kernel;
    const int64_t PH = spikes.size(2) / win[0], PW = spikes.size(3) / win[1];
    const spike_bits bits = spike_gather_pool_pack(spikes, win, a.padding[1],
                                                   spike_gather_pad_right(PW, a.kernel[1], a.stride[1], a.padding[1]));
    return snn_gather_rows_conv(n, bits, PH, PW, amp, opt);
}

snn_pack_plan snn_spikes_go_packed(const graph & g, int i, const std::vector<int> & sole, int last,
                                   const at::Tensor & xt, const snn_options & opt) {
    const node & n = g.nodes[i];
    const int reader = sole[static_cast<size_t>(i)];
    if (!opt.sparse || opt.spike_bf16 || opt.train || at::GradMode::is_enabled() || opt.observer ||
        n.op != op_kind::spike || reader < 0 || reader > last || i == last ||
        std::find(opt.hold.begin(), opt.hold.end(), i) != opt.hold.end() || xt.scalar_type() != at::kFloat ||
        (xt.dim() != 5 && xt.dim() != 4)) {
        return {};
    }
    const int64_t d = xt.dim() - 4, C = xt.size(d + 1), H = xt.size(d + 2), W = xt.size(d + 3);
    const at::Tensor amp = spike_amplitude(n);
    if (amp.defined() && amp.numel() != 1 && amp.numel() != C) {
        return {};
    }
    snn_pack_plan plan;
    plan.conv = reader;
    if (g.nodes[reader].op == op_kind::avg_pool) { // behind a pooling left to its convolution
        const node & pool = g.nodes[reader];
        if (!snn_pool_left_to_gather(g, reader, sole[static_cast<size_t>(reader)], last, opt) ||
            !spike_bits_packer_fits(H, W, pool.attrs.kernel)) {
            return {};
        }
        plan.pool = reader;
        plan.conv = sole[static_cast<size_t>(reader)];
    }
    const node & r = g.nodes[plan.conv];
    const bool fits = r.op == op_kind::conv2d && r.inputs.size() == 1 && r.attrs.groups == 1 &&
                      r.attrs.dilation[0] == 1 && r.attrs.dilation[1] == 1 && r.tensor("weight").dim() == 4 &&
                      r.tensor("weight").size(1) == C;
    return fits ? plan : snn_pack_plan{};
}

snn_neuron_view snn_channels_last_neurons(const at::Tensor & xt, int64_t T, const at::Tensor & v0,
                                          const at::Tensor & x_add) {
    snn_neuron_view v;
    v.repeated = xt.dim() == 4;
    const int64_t d = v.repeated ? 0 : 1; // the batch dimension
    v.N = xt.size(d);
    v.C = xt.size(d + 1);
    v.H = xt.size(d + 2);
    v.W = xt.size(d + 3);
    const int64_t P = v.N * v.H * v.W;
    v.v0 = v0.defined() && v0.dim() == 4 ? v0.permute({0, 2, 3, 1}).reshape({P, v.C}) : v0;
    v.x = v.repeated ? xt.permute({0, 2, 3, 1}).reshape({P, v.C}) : xt.permute({0, 1, 3, 4, 2}).reshape({T, P, v.C});
    if (x_add.defined()) {
        v.x_add = x_add.permute({0, 1, 3, 4, 2}).reshape({T, P, v.C});
    }
    return v;
}

snn_packed_spikes snn_spike_to_bits(const graph & g, const node & n, const snn_pack_plan & plan, const at::Tensor & xt,
                                    int64_t T, const at::Tensor & v0_in, const at::Tensor & x_add, at::Tensor * v_out) {
    const snn_neuron_view nv = snn_channels_last_neurons(xt, T, v0_in, x_add);
    const int64_t N = nv.N, C = nv.C, H = nv.H, W = nv.W;
    snn_packed_spikes r;
    r.H = H;
    r.W = W;
    r.pool = plan.pool;
    r.window = plan.pool >= 0 ? g.nodes[plan.pool].attrs.kernel : std::array<int64_t, 2>{1, 1};
    r.conv_H = H / r.window[0];
    r.conv_W = W / r.window[1];
    r.amp = spike_amplitude(n);
    const auto & a = g.nodes[plan.conv].attrs;
    spike_bits_layout l;
    l.T = T;
    l.N = N;
    l.H = H;
    l.W = W;
    l.C = C;
    l.pad_left = a.padding[1];
    l.pad_right = spike_gather_pad_right(r.conv_W, a.kernel[1], a.stride[1], a.padding[1]);
    l.window = r.window;
    spike_bits_packer packer(l);
    const at::Tensor v = neuron_forward_to_sink(
        nv.x, nv.x_add, nv.repeated ? T : 0, n.tensor("v_th"), nv.v0, n.tensor("alpha"), n.attrs.neuron,
        [&packer](int64_t t, int64_t j0, const float * row, int64_t cnt) { packer.take(t, j0, row, cnt); },
        packer.align());
    *v_out = v.view({N, H, W, C}).permute({0, 3, 1, 2});
    r.bits = packer.finish();
    return r;
}

at::Tensor snn_gather_packed_layer(const node & n, const snn_packed_spikes & p, const snn_options & opt) {
    return p.pool >= 0 ? snn_gather_rows_conv(n, p.bits, p.conv_H, p.conv_W, p.amp, opt)
                       : snn_gather_bits_layer(n, p.bits, p.H, p.W, p.amp, opt);
}

} // namespace snnkit
