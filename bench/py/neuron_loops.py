#!/usr/bin/env python3
"""Per-step PyTorch LIF loops, the baselines for bench/bench_neuron.cpp (same shapes, same math).

LIF: u = alpha * v + x_t ; s = H(u - V_th) with an atan surrogate ; soft reset v = u - s * V_th.
Forward + backward (s.backward(g)): --warmup untimed runs, then --reps timed runs, for every loop.

  index            the loop as the peers' torch backends write it (SpikingJelly's multi-step torch backend
                   and snnTorch's step loop): x[t] indexing, surrogate as an autograd.Function, torch.stack
                   of the spikes (x[t]'s backward adds into a full-size zero tensor per step, which is what
                   makes it slow)
  unbind           the best plain-PyTorch loop found: iterate x.unbind(0) (one stack in backward)
  unbind_addsub    the same with fewer ops per step (add / sub with alpha)

Prints human-readable lines (median, min, max), "RESULT <key> <tag> <median>" and "TIMES <key> <tag> <ms>..."
lines with every timed run (read by bench/run_neuron.sh).
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


def times_ms(fn, reps, warmup):
    """`warmup` untimed runs, then `reps` timed runs: the times in ms (as bench_neuron.cpp's times_ms)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def report(key, tag, label, times):
    """One human-readable line and the RESULT / TIMES lines bench/run_neuron.sh reads."""
    med = statistics.median(times)
    print(f"  {label}: {med:.1f} ms (min {min(times):.1f}, max {max(times):.1f})")
    print(f"RESULT {key} {tag} {med:.6g}")
    print(f"TIMES {key} {tag} " + " ".join(f"{t:.6g}" for t in times))


def fwd_bwd(fn, x0, g):
    """One forward + backward of fn on a fresh leaf copy of x0, as bench_neuron.cpp's fwd_bwd."""
    def step():
        x = x0.detach().requires_grad_(True)
        fn(x).backward(g)
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"neuron_loops.py: torch {torch.__version__}, {torch.get_num_threads()} threads,"
          f" {args.warmup} warm-up + {args.reps} timed runs")
    print(f"INFO torch {torch.__version__}")

    alpha, vth, a = 0.5, 1.0, 2.0
    for shape in ([8, 128, 64, 16, 16], [32, 32, 64, 16, 16]):
        tag = f"T{shape[0]}"
        torch.manual_seed(0)
        x0 = torch.randn(shape) * 0.6 + 0.4
        g = torch.randn(shape)
        # the variants compute the same spikes
        with torch.no_grad():
            s1 = lif_unbind(x0, vth, alpha, a)
            assert torch.equal(s1, lif_index(x0, vth, alpha, a))
            assert torch.equal(s1, lif_unbind_fused_ops(x0, vth, alpha, a))
        print(f"x {shape}:")
        for name, fn in (("index", lif_index), ("unbind", lif_unbind), ("unbind_addsub", lif_unbind_fused_ops)):
            t = times_ms(fwd_bwd(lambda x, fn=fn: fn(x, vth, alpha, a), x0, g), args.reps, args.warmup)
            report(f"py_{name}_ms", tag, name, t)


if __name__ == "__main__":
    main()
