#!/usr/bin/env bash
# bench/run_snn_step.sh: one SNN training step (T = 4, LIF alpha 0.5, hard reset, atan, BPTT through the
# fused neuron kernel), batch 128, 2 threads:
#   1. against the same network's ANN step x T (bench_snn_step prints the ratio; target <= 1.3): the zoo `cnn`
#      on Fashion-MNIST-sized input and the He ResNet-20 on CIFAR-sized input;
#   2. against the same `cnn` step written with SpikingJelly (bench/py/snn_step_spikingjelly.py; needs
#      scripts/setup.sh --bench), snnkit and SpikingJelly alternating for `rounds` rounds, medians compared.
# usage: bash bench/run_snn_step.sh BUILD_DIR [rounds]
set -euo pipefail
build=${1:?usage: bash bench/run_snn_step.sh BUILD_DIR [rounds]}
rounds=${2:-3}
threads=${THREADS:-2}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Equal conditions for snnkit and SpikingJelly: each a process of its own with the same GLIBC_TUNABLES (the values
# snnkit::runtime_init applies with mallopt, so snnkit gets them twice, the same), 3 warm-up + 10 timed SNN steps
# per process and round (bench_snn_step's warm-up is 3 steps of each network).
tuned=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (other work on the machine skews all timings)"
GLIBC_TUNABLES=$tuned "$build/bench_snn_step" --arch resnet20-he --shape 3,32,32 --batch 128 --T 4 --steps 4 --rounds 3 \
  --threads "$threads"
for round in $(seq 1 "$rounds"); do
  echo "== round $round/$rounds"
  GLIBC_TUNABLES=$tuned "$build/bench_snn_step" --arch cnn --batch 128 --T 4 --rounds 1 --steps 10 --threads "$threads" |
    tee -a "$log"
  GLIBC_TUNABLES=$tuned PYTHONPATH="$here/.pydeps${PYTHONPATH:+:$PYTHONPATH}" /usr/bin/python3 "$here/py/snn_step_spikingjelly.py" \
    --threads "$threads" --T 4 --batch 128 --warmup 3 --steps 10 | tee -a "$log" ||
    echo "(SpikingJelly not importable: run scripts/setup.sh --bench)"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$log" <<'PY'
import statistics, sys
r = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 4 and p[0] == "RESULT":
        if p[2] == "cnn":  # the SpikingJelly comparison is on the zoo cnn only
            r.setdefault(p[1], []).append(float(p[3]))
m = {k: statistics.median(v) for k, v in r.items()}
print(f"zoo cnn, T = 4, batch 128: medians over the rounds")
ratio = m['snn_step_ms'] / (4 * m['ann_step_ms'])
shown = next((f"{ratio:.{d}f}" for d in range(3, 8) if ratio <= 1.3 or float(f"{ratio:.{d}f}") > 1.3), repr(ratio))
print(f"  snnkit ANN step {m['ann_step_ms']:.1f} ms, SNN step {m['snn_step_ms']:.1f} ms:"
      f" ratio SNN / (ANN x T) = {shown} (target <= 1.3) [{'ok' if ratio <= 1.3 else f'MISSED: {shown} > 1.3'}]")
if "sj_snn_step_ms" in m:
    print(f"  SpikingJelly SNN step {m['sj_snn_step_ms']:.1f} ms: snnkit is {m['sj_snn_step_ms'] / m['snn_step_ms']:.2f}x faster"
          " (equal conditions: same GLIBC_TUNABLES, 3 warm-up + 10 timed steps per round)")
PY
