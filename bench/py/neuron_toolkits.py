#!/usr/bin/env python3
"""The LIF neurons of the Python SNN toolkits themselves, for bench/run_neuron.sh: the same shapes and the
same work as bench/bench_neuron.cpp (multi-step forward + backward of one LIF layer, 2 threads, CPU).

  spikingjelly  spikingjelly.activation_based.neuron.LIFNode(tau=2, decay_input=False, v_reset=None,
                surrogate ATan(alpha=2), step_mode="m", backend="torch"): H = V + (X - V) / tau with
                decay_input=False is V * (1 - 1/tau) + X = 0.5 V + X, soft reset V = H - S V_th. The same
                dynamics as snnkit's (alpha = 0.5, soft reset, atan a = 2); checked below against a plain loop.
  snntorch      snntorch.Leaky(beta=0.5, threshold=1, spike_grad=atan(alpha=2), reset_mechanism="subtract")
                stepped over T in Python, as its tutorials do. Its reset subtracts the previous step's spike
                before the decay is applied to the next input (mem = beta mem + x - s_prev V_th), so its
                spikes differ slightly from the others'; it detaches the reset (no gradient through it) and
                evaluates the surrogate twice per step, so its work per step is similar, not identical.
run_neuron.sh gives them the same warm-up and repetitions as every other contender.
  (Norse 1.x needs torch >= 2.0; Debian's torch is 1.13, so it is not measured here.)

The packages come from PyPI (scripts/setup.sh --bench installs pinned versions into bench/.pydeps).
Prints "RESULT <key> <tag> <median>" and "TIMES <key> <tag> <ms>..." lines (read by bench/run_neuron.sh); a missing package is reported
and skipped.
"""
import argparse
import importlib.metadata

import torch

from neuron_loops import fwd_bwd, report, times_ms  # the same timing loop as the plain-PyTorch baselines


def plain_lif(x, alpha, vth):
    """The reference dynamics (no gradient): u = alpha v + x_t, s = [u >= V_th], v = u - s V_th."""
    v = torch.zeros_like(x[0])
    out = []
    for xt in x:
        u = alpha * v + xt
        s = (u >= vth).to(x.dtype)
        v = u - s * vth
        out.append(s)
    return torch.stack(out)


def spikingjelly_step():
    from spikingjelly.activation_based import functional, neuron, surrogate

    node = neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=None,
                          surrogate_function=surrogate.ATan(alpha=2.0), detach_reset=False,
                          step_mode="m", backend="torch")

    def run(x):
        functional.reset_net(node)  # SpikingJelly keeps v inside the module between calls
        return node(x)

    return run


def snntorch_step():
    import snntorch
    from snntorch import surrogate

    lif = snntorch.Leaky(beta=0.5, threshold=1.0, spike_grad=surrogate.atan(alpha=2.0),
                         reset_mechanism="subtract")

    def run(x):
        mem = lif.init_leaky()
        out = []
        for t in range(x.shape[0]):
            spk, mem = lif(x[t], mem)
            out.append(spk)
        return torch.stack(out)

    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    makers = {}
    for name, make in (("spikingjelly", spikingjelly_step), ("snntorch", snntorch_step)):
        try:
            makers[name] = make()
        except ImportError as e:
            print(f"neuron_toolkits.py: {name} not importable ({e}); run scripts/setup.sh --bench")
    if not makers:
        return
    versions = []
    for name in makers:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} unknown")
        print(f"INFO {versions[-1]}")
    print(f"neuron_toolkits.py: torch {torch.__version__}, {', '.join(versions)}, {torch.get_num_threads()} threads,"
          f" {args.warmup} warm-up + {args.reps} timed runs")

    for shape in ([8, 128, 64, 16, 16], [32, 32, 64, 16, 16]):
        tag = f"T{shape[0]}"
        torch.manual_seed(0)
        x0 = torch.randn(shape) * 0.6 + 0.4  # as bench_neuron.cpp
        g = torch.randn(shape)
        if "spikingjelly" in makers:  # the configuration computes snnkit's dynamics
            with torch.no_grad():
                small = x0[:, :2]
                assert torch.equal(makers["spikingjelly"](small), plain_lif(small, 0.5, 1.0)), "SpikingJelly config"
        print(f"x {shape}:")
        for name, run in makers.items():
            report(f"{name}_ms", tag, name, times_ms(fwd_bwd(run, x0, g), args.reps, args.warmup))


if __name__ == "__main__":
    main()
