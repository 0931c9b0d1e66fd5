#!/usr/bin/env bash
# bench/run_snn_step.sh: one SNN training step (T = 4, BPTT through the fused neuron kernel) against the same
# network's ANN step x T, interleaved rounds in one run (bench_snn_step prints the ratio; target <= 1.3):
# the zoo `cnn` on Fashion-MNIST-sized input and the He ResNet-20 on CIFAR-sized input, batch 128, 2 threads.
# usage: bash bench/run_snn_step.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: bash bench/run_snn_step.sh BUILD_DIR}
threads=${THREADS:-2}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (other work on the machine skews all timings)"
"$build/bench_snn_step" --arch cnn --batch 128 --T 4 --threads "$threads"
"$build/bench_snn_step" --arch resnet20-he --shape 3,32,32 --batch 128 --T 4 --steps 4 --rounds 3 --threads "$threads"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
