#!/usr/bin/env bash
# bench/run_neuron.sh: the neuron engine benchmark in one run: the C++ bench (fused kernel, per-step ATen
# reference, memory, bandwidth) and the per-step PyTorch Python loops, then one table with the ratios.
#
# Usage: bash bench/run_neuron.sh <build-dir> [reps] [rounds]   (needs <build-dir>/bench_neuron and
#        /usr/bin/python3 with torch; 2 threads everywhere)
# The C++ bench and the two Python variants alternate for `rounds` rounds (default 3), so that a change of
# machine load hits all sides alike; the table takes each figure's median over the rounds.
set -euo pipefail
build=${1:?usage: bash bench/run_neuron.sh <build-dir> [reps] [rounds]}
reps=${2:-15}
rounds=${3:-3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (other work on the machine skews all timings)"
# snnkit programs tune glibc malloc for reuse (snnkit/core/runtime.h); the Python loops run once with the
# same tuning (GLIBC_TUNABLES), so both sides are spared the same page faults, and once with glibc's defaults.
tuned=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864
for round in $(seq 1 "$rounds"); do
  echo "== round $round/$rounds: C++ bench_neuron (2 threads) =="
  "$build/bench_neuron" --threads 2 --reps "$reps" | tee -a "$log"
  echo "== round $round/$rounds: Python loops, malloc tuned as snnkit =="
  GLIBC_TUNABLES=$tuned /usr/bin/python3 "$here/py/neuron_loops.py" --threads 2 --reps "$reps" | tee -a "$log"
  echo "== round $round/$rounds: Python loops, glibc malloc defaults (what Python users get) =="
  /usr/bin/python3 "$here/py/neuron_loops.py" --threads 2 --reps "$reps" | sed 's/^RESULT py_/RESULT pydef_/' | tee -a "$log"
  echo "== round $round/$rounds: the toolkits' own LIF neurons (SpikingJelly, snnTorch), glibc malloc defaults =="
  PYTHONPATH="$here/.pydeps${PYTHONPATH:+:$PYTHONPATH}" /usr/bin/python3 "$here/py/neuron_toolkits.py" --threads 2 \
    --reps 3 --warmup 2 | tee -a "$log" || echo "(the toolkit comparison failed in this round; see above)"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
/usr/bin/python3 - "$log" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 4 and p[0] == "RESULT":
        runs.setdefault((p[1], p[2]), []).append(float(p[3]))
r = {k: statistics.median(v) for k, v in runs.items()}  # median over the rounds

def ok(cond):
    return "ok" if cond else "MISSED"

print("== Summary: LIF alpha=0.5, soft reset, atan; forward + backward, median ms over the rounds, 2 threads, malloc tuned ==")
print(f"{'x shape':<20}{'fused':>8}{'(a) ATen ref':>14}{'(b) py x[t]':>13}{'(c) py unbind':>15}"
      f"{'a/fused':>9}{'b/fused':>9}{'c/fused':>9}")
shapes = {"T8": "[8,128,64,16,16]", "T32": "[32,32,64,16,16]"}
checks = []
for tag, name in shapes.items():
    f = r[("fused_ms", tag)]
    a = r.get(("ref_ms", tag), float("nan"))
    b = r[("py_index_ms", tag)]
    c = r[("py_unbind_ms", tag)]
    print(f"{name:<20}{f:>8.1f}{a:>14.1f}{b:>13.1f}{c:>15.1f}{a / f:>9.2f}{b / f:>9.2f}{c / f:>9.2f}")
    checks.append((f"{tag}: fused >= 10x (b)", b / f, b / f >= 10))
    checks.append((f"{tag}: fused >= 4x (c)", c / f, c / f >= 4))
print("the same Python loops with glibc's default malloc (as users run them):")
for tag, name in shapes.items():
    f = r[("fused_ms", tag)]
    b, c = r.get(("pydef_index_ms", tag), float("nan")), r.get(("pydef_unbind_ms", tag), float("nan"))
    print(f"{name:<20}{f:>8.1f}{'':>14}{b:>13.1f}{c:>15.1f}{'':>9}{b / f:>9.2f}{c / f:>9.2f}")
    checks.append((f"{tag}: fused >= 10x (b, Python default malloc)", b / f, b / f >= 10))
    checks.append((f"{tag}: fused >= 4x (c, Python default malloc)", c / f, c / f >= 4))
if ("spikingjelly_ms", "T8") in r or ("snntorch_ms", "T8") in r:
    print("the toolkits' own LIF layers (PyPI packages on Debian's torch, glibc malloc defaults), same shapes and work:")
    for tag, name in shapes.items():
        f = r[("fused_ms", tag)]
        cells = []
        for key, label in (("spikingjelly_ms", "SpikingJelly"), ("snntorch_ms", "snnTorch")):
            if (key, tag) in r:
                v = r[(key, tag)]
                cells.append(f"{label} {v:.1f} ms = {v / f:.1f}x fused")
                checks.append((f"{tag}: fused faster than {label}", v / f, v / f > 1))
        print(f"  {name:<20} fused {f:.1f} ms; " + "; ".join(cells))
print()
print("memory, peak extra during fwd+bwd (counting c10 CPU allocator; x and g not counted):")
for tag, name in shapes.items():
    fp, rp = r[("fused_peak_mib", tag)], r[("ref_peak_mib", tag)]
    fb, rb = r[("fused_beyond_mib", tag)], r[("ref_beyond_mib", tag)]
    print(f"  {name:<20} total: fused {fp:.0f} MiB / reference {rp:.0f} MiB = {fp / rp:.2f};"
          f"  beyond spikes+v+x.grad: fused {fb:.1f} MiB / reference {rb:.1f} MiB = {fb / rb:.3f}")
    checks.append((f"{tag}: extra memory beyond outputs <= 1/2 of (a)", fb / rb, fb / rb <= 0.5))
print()
print("bandwidth of the fused kernel alone (bytes it must move: fwd reads x, writes spikes; bwd reads x and")
print("dL/dspikes, writes dL/dx) against a plain 2-array stream copy run interleaved with it (read + write counted):")
for tag, name in shapes.items():
    k, copy = r[("kernel_gbps", tag)], r[("copy_gbps", tag)]
    print(f"  {name:<20} kernel fwd+bwd {k:.2f} GB/s, copy {copy:.2f} GB/s: {100 * k / copy:.0f}% of copy")
    checks.append((f"{tag}: kernel bandwidth >= 50% of copy", k / copy, k / copy >= 0.5))
print()
for what, value, good in checks:
    print(f"  [{ok(good):>6}] {what}: {value:.2f}")
PY
