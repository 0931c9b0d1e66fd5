#!/usr/bin/env bash
# CLI test of converting nets with max-pool (the gated spiking max-pool): the zoo resnet18 (7x7 stem +
# max-pool) trained briefly on Fashion-MNIST converts with light calibration and its SNN comes near its ANN;
# an imported ONNX net with MaxPool converts and evaluates; export to NIR refuses the spiking max-pool; the
# presets' half step and how it combines with --bias-shift / --no-half-step.
# usage: convert_max_pool.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$1
work=$2/tmp_cli_convert_max_pool
rm -rf "$work"; mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fixtures=$(dirname "${BASH_SOURCE[0]}")/../interop/fixtures
py=/usr/bin/python3

"$snn" train-ann --dataset fmnist --arch resnet18 --epochs 1 --batch-size 64 --lr 0.05 --limit-train 3000 \
  --limit-test 300 --stats-samples 256 --out "$work/ann" --json "$work/ann.json" --quiet --threads 1 > /dev/null
"$snn" convert --model "$work/ann" --T 16 --out "$work/snn" --calib light --calib-samples 256 \
  --json "$work/conv.json" --quiet
"$snn" eval --model "$work/snn" --T 16 --limit 300 --error-samples 32 --json "$work/eval.json" --quiet > /dev/null
$py - "$work" <<'PY'
import json, sys
w = sys.argv[1]
model = json.load(open(f"{w}/snn/model.json"))
pools = [n for n in model["graph"]["nodes"] if n["op"] == "max_pool"]
assert len(pools) == 1 and pools[0]["attrs"].get("gated") is True, pools
conv = json.load(open(f"{w}/conv.json"))["conversion"]
assert conv["half_step"] and conv["half_init"] and not conv["bias_shift"], conv
r = json.load(open(f"{w}/eval.json"))
ann, acc = r["ann_accuracy"], r["accuracy"]
assert ann > 50, ann  # one short epoch of ResNet-18 on 3,000 images
assert acc > ann - 10, (acc, ann)
print("resnet18 with spiking max-pool: SNN T=16 %.1f %% vs ANN %.1f %% (300 test images)" % (acc, ann))
PY

# the preset's half step: as the bias shift with --bias-shift, left out with --no-half-step
"$snn" convert --model "$work/ann" --T 4 --out "$work/snn_bs" --calib light --calib-samples 64 --bias-shift \
  --json "$work/conv_bs.json" --quiet
"$snn" convert --model "$work/ann" --T 4 --out "$work/snn_nohs" --calib light --calib-samples 64 --no-half-step \
  --json "$work/conv_nohs.json" --quiet
$py - "$work" <<'PY'
import json, sys
w = sys.argv[1]
bs = json.load(open(f"{w}/conv_bs.json"))["conversion"]
assert bs["bias_shift"] and not bs["half_init"], bs
no = json.load(open(f"{w}/conv_nohs.json"))["conversion"]
assert not no["half_step"] and not no["half_init"] and not no["bias_shift"], no
PY
expect_error "--no-half-step" "$snn" convert --model "$work/ann" --T 4 --out "$work/x1" --no-half-step
expect_error "contradict" "$snn" convert --model "$work/ann" --T 4 --out "$work/x2" --calib light --no-half-step --half-init
expect_error "max-pool" "$snn" export-nir "$work/snn" --out "$work/snn.nir"

# an imported ONNX net with MaxPool converts and runs
"$snn" convert --onnx "$fixtures/small_cnn_op11.onnx" --dataset fmnist --T 8 --out "$work/onnx_snn" --quiet
"$snn" eval --model "$work/onnx_snn" --T 8 --limit 50 --error-samples 16 --json "$work/onnx_eval.json" --quiet > /dev/null
$py -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["T"] == 8 and r["samples"] == 50, r' "$work/onnx_eval.json"
echo "cli convert max-pool ok"
