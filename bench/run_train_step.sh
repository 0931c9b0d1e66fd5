#!/usr/bin/env bash
# Side-by-side: one training step of the zoo `cnn` (batch 128, 2 threads) in snnkit (C++) and in
# PyTorch Python (Debian's torch, /usr/bin/python3), interleaved 3 rounds in one run; prints the ratio.
# usage: bench/run_train_step.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
threads=${THREADS:-2}
cpp=() py=()
for round in 1 2 3; do
  cpp+=("$("$build/bench_train_step" --arch cnn --batch 128 --steps 20 --threads "$threads")")
  py+=("$(/usr/bin/python3 "$here/py/train_step.py" --batch 128 --steps 20 --threads "$threads")")
done
/usr/bin/python3 - "${cpp[@]}" "${py[@]}" <<'PY'
import json, sys, statistics
rows = [json.loads(a) for a in sys.argv[1:]]
c = [r["median_ms"] for r in rows if r["impl"] == "snnkit"]
p = [r["median_ms"] for r in rows if r["impl"] == "pytorch-python"]
cm, pm = statistics.median(c), statistics.median(p)
print("ANN training step, zoo cnn, batch 128, 2 threads (median of 3 interleaved rounds x 20 steps)")
print(f"  snnkit C++        {cm:8.2f} ms/step   rounds {c}")
print(f"  PyTorch Python    {pm:8.2f} ms/step   rounds {p}")
print(f"  ratio snnkit/PyTorch = {cm / pm:.3f}  (target <= 1.10)")
PY
