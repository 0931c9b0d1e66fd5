#!/usr/bin/env python3
"""snnkit.LIF from Python against the peers' LIF neurons and the best plain-PyTorch loop, in one process.

Same math everywhere: u = 0.5 v + x, spike at u >= 1 (snnTorch: >), soft reset, atan surrogate (a = 2).
x [8, 128, 64, 16, 16] and [32, 32, 64, 16, 16] (16.8 M neuron-steps each), forward + backward
(spikes.backward(g)), the same warm-ups, repetitions and threads for every contender.

  snnkit       snnkit.LIF(alpha=0.5) (the fused C++ kernel through the binding)
  spikingjelly neuron.LIFNode(tau=2, decay_input=False, v_reset=None, ATan, step_mode='m', backend='torch')
  snntorch     snn.Leaky(beta=0.5) stepped over T (its default reset_delay=True, atan surrogate)
  unbind       a plain PyTorch loop over x.unbind(0) with an atan autograd.Function (the fastest plain form)

Prints median with min/max per contender and "RESULT <name> T<T> <median_ms>" lines (bench/run_python_neuron.sh).
"""
import argparse
import math
import statistics
import time

import torch


class ATanSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + (math.pi * x).square())  # a / (2 (1 + (pi/2 a x)^2)) with a = 2


def unbind_loop(x):
    v = None
    out = []
    for xt in x.unbind(0):
        u = xt if v is None else v * 0.5 + xt
        s = ATanSpike.apply(u - 1.0)
        v = u - s
        out.append(s)
    return torch.stack(out)


def contenders():
    import snnkit
    lif = snnkit.LIF(alpha=0.5, v_th=1.0, reset="soft", surrogate="atan")
    out = {"snnkit": lambda x: lif(x)[0], "unbind": unbind_loop}
    try:
        from spikingjelly.activation_based import functional, neuron, surrogate
        node = neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=None,
                              surrogate_function=surrogate.ATan(), step_mode="m", backend="torch")

        def sj(x):
            functional.reset_net(node)
            return node(x)
        out["spikingjelly"] = sj
    except ImportError as e:
        print(f"SpikingJelly not importable ({e}); PYTHONPATH=bench/.pydeps")
    try:
        import snntorch
        leaky = snntorch.Leaky(beta=0.5, threshold=1.0)

        def snt(x):
            mem = leaky.init_leaky()
            spk = []
            for xt in x.unbind(0):
                s, mem = leaky(xt, mem)
                spk.append(s)
            return torch.stack(spk)
        out["snntorch"] = snt
    except ImportError as e:
        print(f"snnTorch not importable ({e}); PYTHONPATH=bench/.pydeps")
    return out


def time_ms(fn, x, g, reps, warmup):
    def once():
        xr = x.detach().requires_grad_(True)
        fn(xr).backward(g)
    for _ in range(warmup):
        once()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        once()
        t.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(t), min(t), max(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated contenders (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    fns = contenders()
    if args.only:
        fns = {k: v for k, v in fns.items() if k in args.only.split(",")}
    print(f"python_neuron: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.reps} after {args.warmup} warm-ups")
    for shape in [(8, 128, 64, 16, 16), (32, 32, 64, 16, 16)]:
        torch.manual_seed(0)
        x = torch.randn(shape) * 0.6 + 0.4
        g = torch.randn(shape)
        print(f"\nx {list(shape)}: {x.numel() / 1e6:.1f} M neuron-steps")
        for name, fn in fns.items():
            med, lo, hi = time_ms(fn, x, g, args.reps, args.warmup)
            print(f"  {name:13s} fwd+bwd {med:9.2f} ms  (min {lo:.2f}, max {hi:.2f})")
            print(f"RESULT {name} T{shape[0]} {med:.6g}")


if __name__ == "__main__":
    main()
