#!/usr/bin/env bash
# Side-by-side: one training step of the zoo `cnn` (batch 128, 2 threads) in snnkit (C++) and in
# PyTorch Python (Debian's torch, /usr/bin/python3), interleaved 5 rounds in one run; prints the ratio under
# equal conditions first.
# usage: bench/run_train_step.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
threads=${THREADS:-2}
# Equal conditions: snnkit and Python each run in a process of its own with the same GLIBC_TUNABLES (the values
# snnkit::runtime_init applies with mallopt, so snnkit gets them twice, the same), 5 warm-up + 20 timed steps,
# interleaved over 5 rounds. Beside it, labelled: Python once more with glibc's defaults (what Python users get).
tuned=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (other work on the machine skews all timings)"
rows=()
for round in 1 2 3 4 5; do
  rows+=("$(GLIBC_TUNABLES=$tuned "$build/bench_train_step" --arch cnn --batch 128 --steps 20 --threads "$threads")")
  rows+=("$(GLIBC_TUNABLES=$tuned /usr/bin/python3 "$here/py/train_step.py" --batch 128 --steps 20 --threads "$threads" --tag tuned)")
  rows+=("$(env -u GLIBC_TUNABLES /usr/bin/python3 "$here/py/train_step.py" --batch 128 --steps 20 --threads "$threads")")
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "${rows[@]}" <<'PY'
import json, sys, statistics
rows = [json.loads(a) for a in sys.argv[1:]]

def figures(impl):
    r = [x for x in rows if x["impl"] == impl]
    return statistics.median(x["median_ms"] for x in r), min(x["min_ms"] for x in r), max(x["max_ms"] for x in r)

def exact(v, goal):  # 2 decimals, more where 2 would round a miss onto the target
    for d in range(2, 7):
        if v <= goal or float(f"{v:.{d}f}") > goal:
            return f"{v:.{d}f}"
    return repr(v)

c, q, p = figures("snnkit"), figures("pytorch-python-tuned"), figures("pytorch-python")
eq, dflt = c[0] / q[0], c[0] / p[0]
mark = "ok" if eq <= 1.10 else f"MISSED: {exact(eq, 1.10)} > 1.10"
print(f"HEADLINE, equal conditions: ratio snnkit / PyTorch Python = {exact(eq, 1.10)} (target <= 1.10) [{mark}]")
print("ANN training step, zoo cnn, batch 128, 2 threads; each process 5 warm-up + 20 timed steps, 5 interleaved rounds;")
print("ms per step: median of the round medians [min, max over all timed steps]")
print(f"  snnkit C++                                   {c[0]:8.2f} [{c[1]:.2f}, {c[2]:.2f}]   (GLIBC_TUNABLES as below)")
print(f"  PyTorch Python, same GLIBC_TUNABLES          {q[0]:8.2f} [{q[1]:.2f}, {q[2]:.2f}]")
print(f"  beside it, what a Python user gets by default (glibc malloc defaults):")
print(f"  PyTorch Python, glibc defaults               {p[0]:8.2f} [{p[1]:.2f}, {p[2]:.2f}]   ratio snnkit / this = {dflt:.3f}")
PY
