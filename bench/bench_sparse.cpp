// bench/bench_sparse.cpp: at which input firing rate does an event-driven (accumulate-only) layer beat the dense
// oneDNN kernel on this CPU? For every conv and linear layer shape of the zoo `cnn`, `resnet20-he` and `vgg16`
// whose input is spikes (directly, or average-pooled spikes), spikes are drawn at each rate of a sweep and the
// layer is computed three ways, outputs checked equal first (float tolerance):
//   dense     at::conv2d / at::linear (what the SNN executor runs; oneDNN / MKL);
//   scatter   snnkit::sparse_conv2d / sparse_linear: scan the input for nonzeros, add value x weight row
//             [C, kh, kw, O] into a channels-last output, transpose back to [N, O, OH, OW] (all timed);
//   at_sparse linear only: the input to a COO tensor (timed) and at::addmm of sparse x dense;
//   gather    convolutions only: snnkit::spike_gather_pack (bits, timed) and spike_gather_conv2d (each output
//             position sums the weight rows of its active inputs, spike_gather.h), on the channels-last input the
//             executor hands it; for 2 x 2 average-pooled spikes, spike_gather_pool_pack of the spikes before the
//             pooling (spike_gather_pool.h: the executor then never forms the pooled map), and its ratio is to the
//             pooling (at::avg_pool2d, timed as its own contender) and the dense convolution together; also the
//             gather alone on spikes packed beforehand ("after the pack"): the executor decides after packing
//             (the count of spikes comes with it), so that is the crossover its rule uses;
//   table     the same where the layer's table fits snnkit::spike_gather_table_max_bytes (the executor then takes it
//             at any rate): spike_gather_pack and spike_gather_conv2d_table (one table row per byte of spikes).
// The dense convolution runs on the executor's layout (conv_layout: channels last for maps of 8 x 8 and more).
// Same threads, warm-up and repetitions, contenders alternating; times are ms median [min, max]. Prints one table
// row per (layer, rate) and then the crossover per layer (where scatter's, and gather's, median time equals dense's,
// interpolated in log rate between the swept rates) and per layer type. The weight rearrangement is done once per
// layer, outside the timing (the executor does it once per run).
//
// usage: bench_sparse [--nets cnn,resnet20-he,vgg16] [--rates 0.001,0.005,0.01,0.02,0.05,0.1,0.2] [--batch 64]
//                     [--reps 5] [--warmup 2] [--threads 2]
// --batch is the executor's T x N (time folded into the batch).
#include "bench_args.h"
#include "bench_common.h"
#include "snnkit/core/runtime.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/spike_gather.h"
#include "snnkit/nn/spike_gather_pool.h"
#include "snnkit/nn/spike_gather_table.h"
#include "snnkit/nn/spike_sparse.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace {

// A layer whose input is spikes [src_c, src_hw, src_hw] (linear: flattened), average-pooled first when
// pool = 2 (2 x 2, stride 2) or pool = -1 (global), as in the zoo networks.
struct layer_case {
    std::string net, name, kind; // kind: conv3x3, conv1x1, linear
    int64_t src_c, src_hw;
    int pool;
    int64_t out;
    int64_t stride = 1;
};

std::vector<layer_case> cases() {
    return {
        {"cnn", "conv2 16->64 @14 (pooled)", "conv3x3", 16, 28, 2, 64},
        {"cnn", "fc1 3136->256 (pooled)", "linear", 64, 14, 2, 256},
        {"cnn", "fc2 256->10", "linear", 256, 1, 0, 10},
        {"resnet20-he", "16->16 @32", "conv3x3", 16, 32, 0, 16},
        {"resnet20-he", "16->32 @32 s2", "conv3x3", 16, 32, 0, 32, 2},
        {"resnet20-he", "down 16->32 @32 s2", "conv1x1", 16, 32, 0, 32, 2},
        {"resnet20-he", "32->32 @16", "conv3x3", 32, 16, 0, 32},
        {"resnet20-he", "32->64 @16 s2", "conv3x3", 32, 16, 0, 64, 2},
        {"resnet20-he", "down 32->64 @16 s2", "conv1x1", 32, 16, 0, 64, 2},
        {"resnet20-he", "64->64 @8", "conv3x3", 64, 8, 0, 64},
        {"resnet20-he", "fc 64->10 (global pool)", "linear", 64, 8, -1, 10},
        {"vgg16", "conv2 64->64 @32", "conv3x3", 64, 32, 0, 64},
        {"vgg16", "conv3 64->128 @16 (pooled)", "conv3x3", 64, 32, 2, 128},
        {"vgg16", "conv4 128->128 @16", "conv3x3", 128, 16, 0, 128},
        {"vgg16", "conv5 128->256 @8 (pooled)", "conv3x3", 128, 16, 2, 256},
        {"vgg16", "conv6 256->256 @8", "conv3x3", 256, 8, 0, 256},
        {"vgg16", "conv8 256->512 @4 (pooled)", "conv3x3", 256, 8, 2, 512},
        {"vgg16", "conv9 512->512 @4", "conv3x3", 512, 4, 0, 512},
        {"vgg16", "conv11 512->512 @2 (pooled)", "conv3x3", 512, 4, 2, 512},
        {"vgg16", "conv12 512->512 @2", "conv3x3", 512, 2, 0, 512},
        {"vgg16", "fc 512->10 (pooled)", "linear", 512, 2, 2, 10},
    };
}

std::string fmt(const bench::stat3 & s) {
    char b[96];
    std::snprintf(b, sizeof b, "%.3f [%.3f, %.3f]", s.med, s.lo, s.hi);
    return b;
}

// Where speedup (dense / scatter) crosses 1, interpolated in log scale between swept points: the last crossing
// from >= 1 to < 1, as a value of `at` (the spike rates, or the input's nonzero fractions at those rates).
// "< first" when scatter never wins, "> last" when it always does.
std::string crossover(const std::vector<double> & at, const std::vector<double> & speedup) {
    char b[48];
    for (size_t i = at.size(); i-- > 0;) {
        if (speedup[i] >= 1.0) {
            if (i + 1 == at.size()) {
                std::snprintf(b, sizeof b, "> %.2f %%", 100 * at[i]);
                return b;
            }
            const double a = std::log(at[i]), c = std::log(at[i + 1]);
            const double f = (speedup[i] - 1.0) / (speedup[i] - speedup[i + 1]);
            std::snprintf(b, sizeof b, "%.2f %%", 100 * std::exp(a + f * (c - a)));
            return b;
        }
    }
    std::snprintf(b, sizeof b, "< %.2f %%", 100 * at.front());
    return b;
}

} // namespace

int main(int argc, char ** argv) {
    std::string nets = "cnn,resnet20-he,vgg16", rate_list = "0.001,0.005,0.01,0.02,0.05,0.1,0.2";
    int64_t batch = 64, reps = 5, warmup = 2;
    int threads = 2;
    bench::parse_flag_pairs(argc, argv,
                            "usage: bench_sparse [--nets cnn,resnet20-he,vgg16] [--rates 0.001,0.005,...] [--batch 64] "
                            "[--reps 5] [--warmup 2] [--threads 2]",
                            [&](const std::string & k, const std::string & val) {
                                if (k == "--nets") nets = val;
                                else if (k == "--rates") rate_list = val;
                                else if (k == "--batch") batch = std::stoll(val);
                                else if (k == "--reps") reps = std::stoll(val);
                                else if (k == "--warmup") warmup = std::stoll(val);
                                else if (k == "--threads") threads = std::stoi(val);
                                else return false;
                                return true;
                            });
    snnkit::runtime_init(threads);
    at::NoGradGuard ng;
    std::vector<double> rates;
    for (const std::string & r : bench::split(rate_list)) {
        rates.push_back(std::stod(r));
    }
    const std::vector<std::string> want = bench::split(nets);
    std::printf("sparse vs dense layers, batch (T x N) %lld, %d threads, %lld warm-up + %lld timed runs each, "
                "alternating; ms median [min, max]\n",
                static_cast<long long>(batch), at::get_num_threads(), static_cast<long long>(warmup),
                static_cast<long long>(reps));
    std::printf("| net | layer | spike rate | input nonzero | dense ms | scatter ms | dense / scatter | at::sparse ms | "
                "gather ms | dense (+ pool) / gather | table ms | dense / table |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    struct summary {
        std::string net, name, kind, cross_rate, cross_nz, gather_rate, after_pack_rate;
    };
    std::vector<summary> sums;
    for (const layer_case & lc : cases()) {
        if (std::find(want.begin(), want.end(), lc.net) == want.end()) {
            continue;
        }
        const bool conv = lc.kind != "linear";
        const int64_t k = lc.kind == "conv3x3" ? 3 : 1, pad = k / 2;
        const int64_t in_hw = lc.pool == 2 ? lc.src_hw / 2 : (lc.pool == -1 ? 1 : lc.src_hw);
        const int64_t in_features = lc.src_c * in_hw * in_hw;
        at::manual_seed(1);
        const at::Tensor w = conv ? at::randn({lc.out, lc.src_c, k, k}) / std::sqrt(static_cast<double>(lc.src_c * k * k))
                                  : at::randn({lc.out, in_features}) / std::sqrt(static_cast<double>(in_features));
        const at::Tensor b = at::randn({lc.out}) * 0.1;
        const at::Tensor rows = snnkit::sparse_weight_rows(w);
        const bool pooled = conv && lc.pool == 2;           // 2 x 2 pooled spikes: the pooled gather
        const bool binary = conv && (lc.pool == 0 || pooled); // the gather path's inputs
        const at::Tensor grows = binary ? snnkit::spike_gather_rows(w, at::Tensor(), pooled ? 0.25 : 1.0) : at::Tensor();
        const bool tabled = binary && !pooled && snnkit::spike_gather_table_bytes(lc.src_c, lc.out, k, k) <=
                                          snnkit::spike_gather_table_max_bytes;
        const at::Tensor gtable = tabled ? snnkit::spike_gather_table(grows) : at::Tensor();
        std::vector<double> speedup, nzs, gspeed, kspeed;
        for (double rate : rates) {
            at::Tensor x = at::bernoulli(at::full({batch, lc.src_c, lc.src_hw, lc.src_hw}, rate));
            // the spikes before the pooling, channels last as the executor's spike nodes write them
            const at::Tensor spikes = pooled ? x.contiguous(at::MemoryFormat::ChannelsLast) : at::Tensor();
            if (lc.pool == 2) {
                x = at::avg_pool2d(x, {2, 2}, {2, 2});
            } else if (lc.pool == -1) {
                x = at::adaptive_avg_pool2d(x, {1, 1});
            }
            if (!conv) {
                x = x.flatten(1).contiguous();
            }
            const double nz = snnkit::nonzero_fraction(x);
            const std::function<at::Tensor()> dense = [&] { // in the executor's layout (conv_layout)
                return conv ? at::conv2d(snnkit::conv_layout(x), w, b, {lc.stride, lc.stride}, {pad, pad})
                            : at::linear(x, w, b);
            };
            const std::function<at::Tensor()> scatter = [&] {
                return conv ? snnkit::sparse_conv2d(x, rows, b, {k, k}, {lc.stride, lc.stride}, {pad, pad})
                            : snnkit::sparse_linear(x, rows, b);
            };
            const std::function<at::Tensor()> coo = [&] { return at::addmm(b, x.to_sparse(), rows); };
            // the executor's layout: a spike node's output is channels last (it follows its convolution's)
            const at::Tensor xcl = binary && !pooled ? x.contiguous(at::MemoryFormat::ChannelsLast) : at::Tensor();
            const int64_t pad_right = snnkit::spike_gather_pad_right(in_hw, k, lc.stride, pad);
            const auto pack = [&] { // timed with both: the executor packs on every call
                return pooled ? snnkit::spike_gather_pool_pack(spikes, {2, 2}, pad, pad_right)
                              : snnkit::spike_gather_pack(xcl, pad, pad_right);
            };
            const std::function<at::Tensor()> gather = [&] {
                return snnkit::spike_gather_conv2d(pack(), in_hw, in_hw, grows, lc.out, b, {k, k},
                                                   {lc.stride, lc.stride}, {pad, pad});
            };
            const std::function<at::Tensor()> table = [&] {
                return snnkit::spike_gather_conv2d_table(pack(), in_hw, in_hw, gtable, lc.out, b, {k, k},
                                                         {lc.stride, lc.stride}, {pad, pad});
            };
            const std::function<at::Tensor()> pool = [&] { return at::avg_pool2d(spikes, {2, 2}, {2, 2}); };
            const snnkit::spike_bits packed = pooled ? pack() : snnkit::spike_bits();
            const std::function<at::Tensor()> kernel_alone = [&] { // pooled: the gather after its pack
                return snnkit::spike_gather_conv2d(packed, in_hw, in_hw, grows, lc.out, b, {k, k}, {lc.stride, lc.stride},
                                                   {pad, pad});
            };
            const at::Tensor ref = dense();
            const double tol = 1e-5 + 1e-5 * ref.abs().max().item<double>();
            for (const auto * f : {&scatter, &coo, &gather, &table}) {
                if ((f == &coo && conv) || (f == &gather && !binary) || (f == &table && !tabled)) {
                    continue;
                }
                const at::Tensor got = (*f)();
                const double err = (got - ref).abs().max().item<double>();
                if (got.sizes() != ref.sizes() || err > tol) {
                    std::fprintf(stderr, "bench_sparse: %s %s at rate %g: the %s output differs from dense (max %g)\n",
                                 lc.net.c_str(), lc.name.c_str(), rate,
                                 f == &coo ? "at::sparse" : f == &gather ? "gather" : f == &table ? "table" : "scatter", err);
                    return 1;
                }
            }
            std::vector<double> td, ts, tc, tg, tt, tp, tk;
            for (int64_t r = 0; r < warmup + reps; ++r) {
                const double a = bench::ms_of([&] { dense(); });
                const double s = bench::ms_of([&] { scatter(); });
                const double c = conv ? 0.0 : bench::ms_of([&] { coo(); });
                const double q = binary ? bench::ms_of([&] { gather(); }) : 0.0;
                const double u = tabled ? bench::ms_of([&] { table(); }) : 0.0;
                const double v = pooled ? bench::ms_of([&] { pool(); }) : 0.0;
                const double kk = pooled ? bench::ms_of([&] { kernel_alone(); }) : 0.0;
                if (r >= warmup) {
                    tp.push_back(v);
                    tk.push_back(kk);
                    td.push_back(a);
                    ts.push_back(s);
                    tc.push_back(c);
                    tg.push_back(q);
                    tt.push_back(u);
                }
            }
            const bench::stat3 sd = bench::stats(td), ss = bench::stats(ts), sc = bench::stats(tc), sg = bench::stats(tg),
                              st = bench::stats(tt), sp = bench::stats(tp), sk = bench::stats(tk);
            speedup.push_back(sd.med / ss.med);
            const double gather_vs = sd.med + sp.med; // pooled: the pooling + the dense convolution
            gspeed.push_back(binary ? gather_vs / sg.med : 0.0);
            kspeed.push_back(pooled ? gather_vs / sk.med : 0.0);
            nzs.push_back(nz);
            const auto ratio = [](double a, double b) {
                char r[32];
                std::snprintf(r, sizeof r, "%.2fx", a / b);
                return std::string(r);
            };
            std::printf("| %s | %s | %.2f %% | %.2f %% | %s | %s | %.2fx | %s | %s | %s | %s | %s |\n", lc.net.c_str(),
                        lc.name.c_str(), 100 * rate, 100 * nz, fmt(sd).c_str(), fmt(ss).c_str(), sd.med / ss.med,
                        conv ? "-" : fmt(sc).c_str(), binary ? fmt(sg).c_str() : "-",
                        !binary ? "-"
                        : pooled ? (ratio(gather_vs, sg.med) + " (pool " + fmt(sp) + "; after the pack " +
                                    ratio(gather_vs, sk.med) + ")")
                                       .c_str()
                                               : ratio(sd.med, sg.med).c_str(), tabled ? fmt(st).c_str() : "-",
                        tabled ? ratio(sd.med, st.med).c_str() : "-");
            std::fflush(stdout);
        }
        sums.push_back({lc.net, lc.name, lc.kind, crossover(rates, speedup), crossover(nzs, speedup),
                        binary ? crossover(rates, gspeed) : "-", pooled ? crossover(rates, kspeed) : "-"});
    }
    std::printf("\ncrossover: scatter beats dense below this spike rate (and input nonzero fraction), interpolated\n"
                "| net | layer | type | spike rate | input nonzero | gather: spike rate | pooled gather after its pack: "
                "spike rate |\n|---|---|---|---|---|---|---|\n");
    for (const summary & s : sums) {
        std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", s.net.c_str(), s.name.c_str(), s.kind.c_str(),
                    s.cross_rate.c_str(), s.cross_nz.c_str(), s.gather_rate.c_str(), s.after_pack_rate.c_str());
    }
    return 0;
}
