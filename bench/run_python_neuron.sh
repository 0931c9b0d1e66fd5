#!/usr/bin/env bash
# bench/run_python_neuron.sh: snnkit.LIF from Python against SpikingJelly's LIFNode, snnTorch's Leaky, the best
# plain-PyTorch loop, and the C++ benchmark of the same kernel (build/bench_neuron), with the targets.
#
# Usage: bash bench/run_python_neuron.sh <build-dir> [reps] [threads] [rounds]   (needs <build-dir>/bench_neuron
#        and <build-dir>/python/snnkit; /usr/bin/python3 with torch; peers from bench/.pydeps)
# The C++ bench and the Python process alternate for `rounds` rounds (default 3), so that a change of machine
# load hits both sides alike; the table takes each figure's median over the rounds.
# Every contender gets the same threads, 5 warm-ups and `reps` timed runs, and the same glibc malloc settings:
# GLIBC_TUNABLES is set to snnkit::runtime_init's tuning for every process here (bench_neuron also applies
# it itself), so no side is spared page faults the other pays.
set -euo pipefail
build=$(cd "${1:?usage: bash bench/run_python_neuron.sh <build-dir> [reps] [threads] [rounds]}" && pwd)
reps=${2:-5}
threads=${3:-2}
rounds=${4:-3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864
export OMP_NUM_THREADS=$threads

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
for round in $(seq 1 "$rounds"); do
  echo "== round $round/$rounds: C++ bench_neuron --quick ($threads threads, 5 warm-ups, $reps reps) =="
  "$build/bench_neuron" --threads "$threads" --reps "$reps" --quick | grep -E '^(RESULT fused_ms|x |  fused)' | tee -a "$log"
  echo "== round $round/$rounds: Python, one process ($threads threads, 5 warm-ups, $reps reps) =="
  PYTHONPATH="$build/python:$here/.pydeps${PYTHONPATH:+:$PYTHONPATH}" /usr/bin/python3 -W ignore \
    "$here/py/python_neuron.py" --threads "$threads" --reps "$reps" --warmup 5 | tee -a "$log"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
PYTHONPATH="$here/py" /usr/bin/python3 - "$log" <<'PY'
import sys
from bench_results import read_results
runs, r = read_results(sys.argv[1])
def spread(k):
    v = runs[k]
    return f"median of {len(v)} rounds; rounds' min {min(v):.2f}, max {max(v):.2f}"

def check(label, value, target, higher=True):
    ok = value >= target if higher else value <= target
    print(f"  {label:42s} {value:8.2f}  target {'>=' if higher else '<='} {target:<5g} "
          + ("[ok]" if ok else f"[MISSED: {value:.3g}]"))
for T in ["T8", "T32"]:
    k = r.get(("snnkit", T))
    if k is None:
        print(f"{T}: no snnkit result"); continue
    print(f"{T}: snnkit.LIF fwd+bwd {k:.2f} ms ({spread(('snnkit', T))})")
    for peer, target in [("spikingjelly", 15), ("snntorch", 15), ("unbind", 4)]:
        if (peer, T) in r:
            print(f"  {peer} {r[(peer, T)]:.2f} ms ({spread((peer, T))})")
            check(f"{peer} / snnkit (speed-up)", r[(peer, T)] / k, target)
    if ("fused_ms", T) in r:
        c = r[("fused_ms", T)]
        print(f"  C++ bench_neuron fused {c:.2f} ms ({spread(('fused_ms', T))})")
        check(f"snnkit Python / C++ ({c:.2f} ms) - 1, in %", (k / c - 1) * 100, 10, higher=False)
PY
