#!/usr/bin/env python3
"""A whole training step of a SpikingJelly conv net (bench/py/sj_convnet.py: conv-BN-LIF blocks, T = 4, batch 64,
3x32x32 input, multi-step, torch backend) against the same net with its LIF nodes swapped for snnkit.LIF.

One process, the same threads, the same warm-up steps and timed steps for both, in alternating rounds (so that a
change of machine load hits both alike); each step = forward over T + backward + SGD step (+ SpikingJelly's
reset_net). First the check: both nets from the same weights on the same batches give the same loss for the first
--check-steps steps: bit-equal as long as no spike flips; the gradients of the fused kernel and of SpikingJelly's
autograd graph differ in the last bit (summation order), which training amplifies once a potential near the
threshold flips, so the later steps are compared against the same amplification of SpikingJelly against itself
from weights one float32 ulp away (equal within float tolerance: the snnkit difference is no larger). Prints median [min, max] per contender over all timed steps,
"RESULT <name> step_ms <median>" lines, and the speed-up against the target (>= 1.5x): [ok] or [MISSED: x].
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sj_convnet  # noqa: E402

TARGET = 1.5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per contender and round")
    ap.add_argument("--reps", type=int, default=5, help="timed steps per contender and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--width", type=int, default=64, help="channels of the first blocks (then 2x)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--check-steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=sj_convnet.LR, help="SGD learning rate of the loss check")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"sj_convnet_step: torch {torch.__version__}, {torch.get_num_threads()} threads; width {args.width}, "
          f"batch {args.batch}, T = {args.T}, 3x32x32; {args.rounds} rounds x ({args.warmup} warm-up + "
          f"{args.reps} timed steps) per contender")

    if args.check_steps > 0:
        t0 = time.perf_counter()
        la, lb, lc = sj_convnet.loss_curves(args.check_steps, args.width, 32, args.batch, args.T, lr=args.lr,
                                            noise_floor=True)
        rel = [abs(a - b) / abs(a) for a, b in zip(la, lb)]
        floor = [abs(a - c) / abs(a) for a, c in zip(la, lc)]
        same = next((i for i, r in enumerate(rel) if r > 0), len(rel))
        ok = max(rel) <= max(1e-5, max(floor))
        print(f"loss of the first {args.check_steps} steps ({time.perf_counter() - t0:.0f} s):")
        for i, (a, b, c) in enumerate(zip(la, lb, lc)):
            print(f"  step {i + 1:2d}  SpikingJelly {a:.7f}  snnkit {b:.7f}  (rel. diff {rel[i]:.2e})   "
                  f"SpikingJelly from weights 1 ulp away {c:.7f}  (rel. diff {floor[i]:.2e})")
        print(f"bit-equal for the first {same} steps; max relative difference {max(rel):.3g}, against "
              f"{max(floor):.3g} between SpikingJelly and itself from weights one float32 ulp away (the rounding "
              f"noise that training amplifies) " + ("[equal within float tolerance]" if ok else "[DIFFERENT]"))
        print(f"RESULT loss_max_rel_diff steps{args.check_steps} {max(rel):.6g}")
        print(f"RESULT loss_noise_floor steps{args.check_steps} {max(floor):.6g}")

    torch.manual_seed(0)
    sj = sj_convnet.build_sj(args.width)
    trainers = {"spikingjelly": sj_convnet.Trainer(sj, args.T), "snnkit": sj_convnet.Trainer(sj_convnet.swap_lif(sj), args.T)}
    data = sj_convnet.batches(2, args.batch, 32)
    times = {k: [] for k in trainers}
    for r in range(args.rounds):
        order = list(trainers) if r % 2 == 0 else list(reversed(list(trainers)))
        for name in order:
            tr = trainers[name]
            for i in range(args.warmup):
                tr.step(*data[i % 2])
            for i in range(args.reps):
                t0 = time.perf_counter()
                tr.step(*data[i % 2])
                times[name].append((time.perf_counter() - t0) * 1e3)
        print(f"  round {r + 1}: " + ", ".join(f"{k} {statistics.median(v[-args.reps:]):.1f} ms" for k, v in times.items()))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"{k:13s} training step {med[k]:9.1f} ms  [min {min(v):.1f}, max {max(v):.1f}] over {len(v)} steps")
        print(f"RESULT {k} step_ms {med[k]:.6g}")
    ratio = med["spikingjelly"] / med["snnkit"]
    verdict = "[ok]" if ratio >= TARGET else f"[MISSED: {ratio:.2f}x]"
    print(f"snnkit.LIF swap: {ratio:.2f}x faster per training step than SpikingJelly's LIFNode "
          f"(target >= {TARGET}x) {verdict}")


if __name__ == "__main__":
    main()
