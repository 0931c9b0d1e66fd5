#!/usr/bin/env bash
# CLI test of the interop commands: import-onnx (then convert + eval), convert --onnx, export-nir /
# import-nir (same accuracy after the round trip), and bad ONNX / NIR files: one error line, exit 1,
# nothing written.
# usage: interop.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$1
work=$2/tmp_cli_interop
fx=$(cd "$(dirname "$0")/../interop/fixtures" && pwd)
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3

"$snn" import-onnx "$fx/vgg_bn_op13.onnx" --out "$work/ann" --dataset fmnist --stats-samples 128 \
  --json "$work/import.json" > /dev/null
"$snn" convert --model "$work/ann" --T 8 --out "$work/snn" --calib light --calib-samples 128 --grid 10 --quiet > /dev/null
"$snn" convert --onnx "$fx/resnet_op17.onnx" --dataset fmnist --stats-samples 64 --T 4 --out "$work/snn_res" \
  --quiet > /dev/null
[ -f "$work/snn_res/source_ann/model.json" ] || fail "convert --onnx did not keep the imported ANN"
"$snn" eval --model "$work/snn" --T 8 --limit 200 --error-samples 16 --json "$work/eval.json" --quiet > /dev/null
"$snn" export-nir "$work/snn" --out "$work/vgg.nir" > /dev/null
"$snn" import-nir "$work/vgg.nir" --out "$work/back" > /dev/null
"$snn" eval --model "$work/back" --T 8 --limit 200 --error-samples 16 --json "$work/eval_back.json" --quiet > /dev/null
$py - "$work" <<'PY'
import json, sys
w = sys.argv[1]
imp = json.load(open(f"{w}/import.json"))
assert imp["stats_layers"] == 5 and imp["classes"] == 10, imp
meta = json.load(open(f"{w}/ann/model.json"))["meta"]
assert meta["kind"] == "ann" and meta["source"] == "onnx" and meta["dataset"] == "fmnist", meta
assert abs(meta["preprocess"]["mean"][0] - 0.2860) < 1e-6, meta["preprocess"]
a, b = json.load(open(f"{w}/eval.json")), json.load(open(f"{w}/eval_back.json"))
assert a["accuracy_per_t"] == b["accuracy_per_t"], (a["accuracy_per_t"], b["accuracy_per_t"])
assert a["ann_accuracy"] > 50, a["ann_accuracy"]  # the fixture was trained for about one epoch
assert a["accuracy"] > a["ann_accuracy"] - 10, (a["accuracy"], a["ann_accuracy"])
print("interop ok: imported VGG ANN %.1f %%, SNN T=8 %.1f %%, after NIR round trip %.1f %%"
      % (a["ann_accuracy"], a["accuracy"], b["accuracy"]))
PY

# Bad inputs: non-zero exit, one "snnkit: error:" line naming the problem, nothing written.
expect_error() { # pattern, then the command
  local pat=$1; shift
  if "$@" > "$work/out.txt" 2> "$work/err.txt"; then fail "accepted: $*"; fi
  grep -q "snnkit: error: .*$pat" "$work/err.txt" || { cat "$work/err.txt"; fail "no '$pat' error for: $*"; }
}
head -c 20000 "$fx/small_cnn_op9.onnx" > "$work/trunc.onnx"
expect_error "trunc.onnx" "$snn" import-onnx "$work/trunc.onnx" --out "$work/x1"
expect_error "identity_dropout_op9.onnx: takes inputs of shape \[6\] per sample, dataset 'fmnist' has images of \[1, 28, 28\] (the model must take images" \
  "$snn" import-onnx "$fx/identity_dropout_op9.onnx" --out "$work/x1b" --dataset fmnist
expect_error "(Sigmoid): unsupported op" "$snn" import-onnx "$fx/bad_sigmoid.onnx" --out "$work/x2"
expect_error "dynamic" "$snn" import-onnx "$fx/bad_dynamic_hw.onnx" --out "$work/x3"
expect_error "conv1.weight" "$snn" import-onnx "$fx/bad_missing_init.onnx" --out "$work/x4"
expect_error "(Sigmoid)" "$snn" convert --onnx "$fx/bad_sigmoid.onnx" --T 4 --out "$work/x5"
expect_error "ReLU" "$snn" export-nir "$work/ann" --out "$work/x6.nir"
head -c 3000 "$work/vgg.nir" > "$work/trunc.nir"
expect_error "trunc.nir" "$snn" import-nir "$work/trunc.nir" --out "$work/x7"
for x in x1 x2 x3 x4 x5 x6.nir x7; do
  [ ! -e "$work/$x" ] || fail "$x was written despite the error"
done
echo "interop CLI ok"
