#!/usr/bin/env python3
"""Per-step PyTorch LIF loops, the baselines for bench/bench_neuron.cpp (same shapes, same math).

LIF: u = alpha * v + x_t ; s = H(u - V_th) with an atan surrogate ; soft reset v = u - s * V_th.
Forward + backward (s.backward(g)) timed as the median of --reps runs after warm-up.

  index   the loop as SpikingJelly / snnTorch / Norse write it: x[t] indexing, surrogate as an
          autograd.Function, torch.stack of the spikes (x[t]'s backward adds into a full-size zero
          tensor per step, which is what makes it slow)
  unbind  the best plain-PyTorch loops: iterate x.unbind(0) (one stack in backward); two variants,
          the faster one is reported as "unbind"

Prints human-readable lines and "RESULT <key> <tag> <value>" lines (read by bench/run_neuron.sh).
"""
import argparse
import math
import statistics
import time

import torch


class ATanSpike(torch.autograd.Function):
    """Heaviside forward, atan surrogate backward: a / (2 (1 + (pi/2 a x)^2)), x = u - V_th."""

    @staticmethod
    def forward(ctx, x, a):
        ctx.save_for_backward(x)
        ctx.a = a
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        a = ctx.a
        return grad * (a / 2) / (1 + (math.pi / 2 * a * x).square()), None


def lif_index(x, vth, alpha, a):
    v = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        u = alpha * v + x[t]
        s = ATanSpike.apply(u - vth, a)
        v = u - s * vth
        out.append(s)
    return torch.stack(out)


def lif_unbind(x, vth, alpha, a):
    v = torch.zeros_like(x[0])
    out = []
    for xt in x.unbind(0):
        u = alpha * v + xt
        s = ATanSpike.apply(u - vth, a)
        v = u - s * vth
        out.append(s)
    return torch.stack(out)


def lif_unbind_fused_ops(x, vth, alpha, a):
    """Fewer ops per step: add with alpha, sub with alpha (no separate mul)."""
    v = None
    out = []
    for xt in x.unbind(0):
        u = xt if v is None else torch.add(xt, v, alpha=alpha)
        s = ATanSpike.apply(u - vth, a)
        v = torch.sub(u, s, alpha=vth)
        out.append(s)
    return torch.stack(out)


def median_ms(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"neuron_loops.py: torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.reps}")

    alpha, vth, a = 0.5, 1.0, 2.0
    for shape in ([8, 128, 64, 16, 16], [32, 32, 64, 16, 16]):
        tag = f"T{shape[0]}"
        torch.manual_seed(0)
        x0 = torch.randn(shape) * 0.6 + 0.4
        g = torch.randn(shape)
        res = {}
        for name, fn in (("index", lif_index), ("unbind_a", lif_unbind), ("unbind_b", lif_unbind_fused_ops)):
            def step():
                x = x0.detach().requires_grad_(True)
                fn(x, vth, alpha, a).backward(g)
            res[name] = median_ms(step, args.reps if name != "index" else max(3, args.reps // 2), 5)  # warm-up as the C++ side
        # the variants compute the same spikes
        with torch.no_grad():
            s1 = lif_unbind(x0, vth, alpha, a)
            assert torch.equal(s1, lif_index(x0, vth, alpha, a))
        res["unbind"] = min(res["unbind_a"], res["unbind_b"])
        print(f"x {shape}: index {res['index']:.1f} ms, unbind {res['unbind_a']:.1f} ms, "
              f"unbind (add/sub alpha) {res['unbind_b']:.1f} ms")
        for k, v in res.items():
            print(f"RESULT py_{k}_ms {tag} {v:.6g}")


if __name__ == "__main__":
    main()
