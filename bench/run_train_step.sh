#!/usr/bin/env bash
# Side-by-side: one training step of the zoo `cnn` (batch 128, 2 threads) in snnkit (C++) and in
# PyTorch Python (Debian's torch, /usr/bin/python3), interleaved 5 rounds in one run; prints the ratio.
# usage: bench/run_train_step.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
threads=${THREADS:-2}
# snnkit tunes glibc malloc for reuse (snnkit/core/runtime.h); Python runs once with glibc's defaults
# (what users get) and once with the same tuning through GLIBC_TUNABLES (same allocator behaviour).
tuned=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864
rows=()
for round in 1 2 3 4 5; do
  rows+=("$("$build/bench_train_step" --arch cnn --batch 128 --steps 20 --threads "$threads")")
  rows+=("$(/usr/bin/python3 "$here/py/train_step.py" --batch 128 --steps 20 --threads "$threads")")
  rows+=("$(GLIBC_TUNABLES=$tuned /usr/bin/python3 "$here/py/train_step.py" --batch 128 --steps 20 --threads "$threads" --tag tuned)")
done
/usr/bin/python3 - "${rows[@]}" <<'PY'
import json, sys, statistics
rows = [json.loads(a) for a in sys.argv[1:]]
c = [r["median_ms"] for r in rows if r["impl"] == "snnkit"]
p = [r["median_ms"] for r in rows if r["impl"] == "pytorch-python"]
q = [r["median_ms"] for r in rows if r["impl"] == "pytorch-python-tuned"]
cm, pm, qm = statistics.median(c), statistics.median(p), statistics.median(q)
print("ANN training step, zoo cnn, batch 128, 2 threads (median of 5 interleaved rounds x 20 steps, after 5 warm-up steps each)")
print(f"  snnkit C++        {cm:8.2f} ms/step   rounds {c}")
print(f"  PyTorch Python    {pm:8.2f} ms/step   rounds {p}")
print(f"  PyTorch Python, malloc tuned as snnkit {qm:8.2f} ms/step   rounds {q}")
print(f"  ratio snnkit/PyTorch = {cm / pm:.3f}  (target <= 1.10)")
print(f"  ratio snnkit/PyTorch (same malloc tuning) = {cm / qm:.3f}")
PY
