#!/usr/bin/env bash
# CLI test of `snnkit train-ann` and `snnkit info` on a small slice of Fashion-MNIST:
# trains, checks the JSON result and the saved files, resumes, and checks bad-input errors.
# usage: train_ann.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$1
work=$2/tmp_cli_train_ann
rm -rf "$work"; mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# 1. A short training run learns something and writes model, log, checkpoint and JSON.
"$snn" train-ann --dataset fmnist --arch cnn --epochs 2 --batch-size 64 --lr 0.05 --limit-train 3000 \
  --limit-test 1000 --stats-samples 256 --out "$work/m" --json "$work/r.json" --quiet --threads 2
for f in model.json model.safetensors checkpoint.safetensors train_log.jsonl; do
  [ -s "$work/m/$f" ] || fail "missing $f"
done
acc=$(/usr/bin/python3 -c "import json;print(json.load(open('$work/r.json'))['test_accuracy'])")
/usr/bin/python3 -c "import sys; a=float('$acc'); sys.exit(0 if 60 < a <= 100 else 1)" || fail "accuracy $acc"
[ "$(wc -l < "$work/m/train_log.jsonl")" = 2 ] || fail "log should have 2 epochs"
grep -q '"act_max"' "$work/m/model.json" || fail "activation stats not stored"
"$snn" info "$work/m" | grep -q "conv1.relu" || fail "info"
# info --json: the same graph as model.json, the metadata, and the parameter count the table prints
"$snn" info "$work/m" --json "$work/info.json" > "$work/info.txt"
"$snn" info "$work/m" --json - > "$work/info_stdout.json" 2> "$work/info_stderr.txt"
/usr/bin/python3 - "$work" <<'PY' || fail "info --json"
import json, re, sys
w = sys.argv[1]
i = json.load(open(w + "/info.json"))
assert i == json.load(open(w + "/info_stdout.json")), "--json - differs from the file"
m = json.load(open(w + "/m/model.json"))
assert i["command"] == "info" and i["graph"]["nodes"] == m["graph"]["nodes"]
assert i["meta"] == m["meta"]
txt = open(w + "/info.txt").read()
assert int(re.search(r"parameters: (\d+)", txt).group(1)) == i["parameters"] > 0
assert "parameters:" in open(w + "/info_stderr.txt").read(), "with --json -, the table goes to stderr"
PY

# 2. Interrupt after 10 steps, resume: the final weights equal an uninterrupted run's.
args=(train-ann --dataset fmnist --arch cnn --epochs 1 --batch-size 64 --limit-train 1280 --limit-test 200
      --stats-samples 64 --quiet --threads 2)
"$snn" "${args[@]}" --out "$work/full"
set +e; "$snn" "${args[@]}" --out "$work/part" --max-steps 10 2>"$work/err"; rc=$?; set -e
[ $rc -ne 0 ] || fail "interrupted run should exit non-zero"
grep -q "resume" "$work/err" || fail "interrupted run should say how to resume"
"$snn" "${args[@]}" --out "$work/part" --resume
cmp "$work/full/model.safetensors" "$work/part/model.safetensors" || fail "resumed weights differ"

# 3. Bad input: one clear error line, non-zero exit.
expect_error "not found" "$snn" train-ann --dataset mnist --data "$work/nowhere" --out "$work/x" --quiet
expect_error "unknown architecture" "$snn" train-ann --arch lenet9 --out "$work/x" --quiet --limit-train 256
expect_error "--bogus" "$snn" train-ann --bogus --out "$work/x"
expect_error "unknown dataset" "$snn" train-ann --dataset svhn --data /tmp --out "$work/x" --quiet
expect_error "model.json" "$snn" info "$work/nowhere"
echo "train_ann.sh: all checks passed"
