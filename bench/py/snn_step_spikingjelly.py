#!/usr/bin/env python3
"""One SNN training step of the zoo `cnn` written with SpikingJelly, the counterpart of bench_snn_step.cpp
(run side by side, in alternating rounds, by bench/run_snn_step.sh).

The same network and work as snnkit's: conv16-BN-LIF-avgpool, conv64-BN-LIF-avgpool, fc256-LIF, dropout 0.3,
fc10; LIF with alpha = 0.5 (tau = 2, decay_input=False), V_th = 1, hard reset to 0, atan surrogate (a = 2);
T = 4 multi-step (step_mode "m", torch backend), BatchNorm over the merged [T*N] batch, logits = mean over T,
cross-entropy, SGD lr 0.01 with momentum 0.9 and weight decay 5e-4 (bench_snn_step's optimizer), batch 128,
2 threads. Direct input: like snnkit, the first conv + BN run once on the N images and their output is repeated
over T before the first LIF layer (SpikingJelly's examples repeat the image itself, which costs T times that
layer). One difference: SpikingJelly's multi-step dropout keeps one mask for all T steps, snnkit's bench draws
one per step (the same cost). Prints "RESULT sj_snn_step_ms cnn <median ms>"; with --memory, no timing but the
peak resident memory of --steps steps above what the process held before them ("RESULT
sj_snn_step_peak_extra_mib cnn <MiB>", bench/run_snn_memory.sh).
"""
import argparse
import resource
import statistics
import time

import torch
import torch.nn as nn


def build():
    """(head, body): head = conv1 + BN, single-step on [N, ...]; body = the rest, multi-step on [T, N, ...]."""
    from spikingjelly.activation_based import layer, neuron, surrogate

    def lif():
        return neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0,
                              surrogate_function=surrogate.ATan(alpha=2.0), step_mode="m", backend="torch")

    head = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
    return head, nn.Sequential(
        lif(),
        layer.AvgPool2d(2, 2, step_mode="m"),
        layer.Conv2d(16, 64, 3, padding=1, bias=False, step_mode="m"), layer.BatchNorm2d(64, step_mode="m"), lif(),
        layer.AvgPool2d(2, 2, step_mode="m"),
        layer.Flatten(step_mode="m"),
        layer.Linear(64 * 7 * 7, 256, step_mode="m"), lif(),
        layer.Dropout(0.3, step_mode="m"),
        layer.Linear(256, 10, step_mode="m"),
    )


def resident_mib():
    """The resident set now (VmRSS of /proc/self/status), MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--memory", action="store_true",
                    help="no timing: run --steps steps, print the peak resident memory above what was held before")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from spikingjelly.activation_based import functional

    torch.manual_seed(0)
    head, body = build()
    net = nn.Sequential(head, body)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(args.batch, 1, 28, 28)
    y = torch.randint(10, (args.batch,))

    def step():
        opt.zero_grad()
        h = head(x)  # direct input: the first layer's output is the same at every step
        loss = nn.functional.cross_entropy(body(h.unsqueeze(0).repeat(args.T, 1, 1, 1, 1)).mean(0), y)
        loss.backward()
        opt.step()
        functional.reset_net(net)  # SpikingJelly keeps each neuron's v inside the module

    if args.memory:  # the counterpart of bench_snn_step --memory 1
        before = resident_mib()
        for _ in range(args.steps):
            step()
        extra = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - before
        print(f"SpikingJelly cnn, batch {args.batch}, T = {args.T}: SNN training step peak memory {extra:.0f} MiB "
              f"above the {before:.0f} MiB held before")
        print(f"RESULT sj_snn_step_peak_extra_mib cnn {extra:.6g}")
        return
    for _ in range(args.warmup):
        step()
    ms = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t0) * 1e3)
    print(f"SpikingJelly cnn SNN training step, T = {args.T}, batch {args.batch}, {torch.get_num_threads()} threads: "
          f"{statistics.median(ms):.2f} ms (median of {args.steps})")
    print(f"RESULT sj_snn_step_ms cnn {statistics.median(ms):.6g}")


if __name__ == "__main__":
    main()
