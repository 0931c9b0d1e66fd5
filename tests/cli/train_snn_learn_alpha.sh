#!/usr/bin/env bash
# CLI test of `snnkit train-snn --learn-alpha` (PLIF: a learnable leak factor per spiking layer) on a small
# slice of Fashion-MNIST: the result JSON lists one learned alpha per spiking layer, moved away from --alpha;
# the saved model carries them (as parameters and in the layers' neuron attributes); `snnkit eval` of the saved
# model reproduces training's test accuracy (so evaluation runs the learned alphas); NIR export writes them
# (read back by import-nir); --neuron if refuses the flag.
# usage: train_snn_learn_alpha.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$1
work=$2/tmp_cli_train_snn_learn_alpha
rm -rf "$work"; mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
py=/usr/bin/python3

"$snn" train-snn --dataset fmnist --arch cnn --T 2 --epochs 1 --batch-size 64 --lr 0.05 --limit-train 640 \
  --limit-test 200 --alpha 0.6 --learn-alpha --out "$work/m" --json "$work/r.json" --quiet --threads 2 > /dev/null
"$snn" eval --model "$work/m" --T 2 --limit 200 --json "$work/e.json" --quiet --threads 2 > /dev/null
$py - "$work/r.json" "$work/e.json" "$work/m/model.json" <<'PY' || fail "train-snn --learn-alpha"
import json, sys
r, e, m = (json.load(open(p)) for p in sys.argv[1:4])
n = r["neuron"]
assert n["learn_alpha"] is True and n["alpha"] == 0.6, n
learned = n["learned_alpha"]
assert len(learned) >= 2, learned  # zoo cnn: one per spiking layer
assert all(abs(a - 0.6) > 1e-4 for a in learned.values()), learned  # each moved by its gradient
assert len(set(learned.values())) == len(learned), learned  # per layer, not one shared value
assert abs(e["accuracy"] - r["test_accuracy"]) < 1e-9, (e["accuracy"], r["test_accuracy"])
saved = {n["name"]: n["attrs"]["alpha"] for n in m["graph"]["nodes"] if n["op"] == "spike"}
assert saved == learned, (saved, learned)  # the saved layers' attributes hold the learned values
PY
"$snn" export-nir "$work/m" --out "$work/m.nir" > /dev/null
"$snn" import-nir "$work/m.nir" --out "$work/nir" > /dev/null
$py - "$work/r.json" "$work/nir/model.json" <<'PY' || fail "NIR export of learned alphas"
import json, sys
learned = json.load(open(sys.argv[1]))["neuron"]["learned_alpha"]
back = {n["name"]: n["attrs"]["alpha"] for n in json.load(open(sys.argv[2]))["graph"]["nodes"] if n["op"] == "spike"}
assert back.keys() == learned.keys() and all(abs(back[k] - learned[k]) < 1e-9 for k in learned), (back, learned)
PY

base=(train-snn --dataset fmnist --limit-train 256 --limit-test 64 --epochs 1 --quiet --out "$work/x")
expect_error "--learn-alpha: --neuron if has no leak to learn" "$snn" "${base[@]}" --neuron if --learn-alpha
echo "train_snn_learn_alpha.sh: all checks passed"
