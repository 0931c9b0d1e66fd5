#!/usr/bin/env bash
# CLI test of QCFS training and conversion (train-ann --act qcfs, --init, convert of a QCFS model) on a small
# slice of Fashion-MNIST: lambda recorded and moved by training, converted V_th = lambda and v(0) = V_th/2
# read back from the SNN's weights file, calibration keeping lambda by default, and the flag refusals.
# usage: qcfs.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$1
work=$2/tmp_cli_qcfs
rm -rf "$work"; mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
small=(--dataset fmnist --arch cnn --epochs 1 --batch-size 64 --lr 0.05 --limit-train 640 --limit-test 200
       --stats-samples 64 --quiet --threads 2)

# 1. Training with QCFS: the JSON and the model say L and lambda, and lambda moved.
"$snn" train-ann "${small[@]}" --act qcfs --levels 4 --out "$work/q" --json "$work/q.json"
/usr/bin/python3 - "$work" <<'PY' || fail "train-ann --act qcfs"
import json, sys
w = sys.argv[1]
r = json.load(open(w + "/q.json"))
assert r["act"] == "qcfs" and r["qcfs"]["levels"] == 4 and r["qcfs"]["layers"] == 3, r.get("qcfs")
ini, fin = r["qcfs"]["lambda_initial"], r["qcfs"]["lambda_final"]
assert set(ini) == {"conv1.relu", "conv2.relu", "fc1.relu"}
assert all(v > 0 for v in ini.values()) and any(abs(fin[k] - ini[k]) > 1e-4 for k in ini), (ini, fin)
m = json.load(open(w + "/q/model.json"))
q = [n for n in m["graph"]["nodes"] if n["op"] == "qcfs"]
assert len(q) == 3 and all(n["attrs"]["levels"] == 4 and n["tensors"]["lambda"] == "param" for n in q)
assert m["meta"]["train"]["act"] == "qcfs" and m["meta"]["train"]["qcfs"]["levels"] == 4
PY

# 2. Conversion: V_th = lambda, v(0) = V_th/2 (read from the safetensors files); the JSON says what it was trained with.
"$snn" convert --model "$work/q" --T 4 --out "$work/s" --json "$work/s.json" --quiet --threads 2
"$snn" convert --model "$work/q" --T 2 --out "$work/sl" --calib light --calib-samples 64 --json "$work/sl.json" --quiet --threads 2
"$snn" convert --model "$work/q" --T 2 --out "$work/ss" --calib light --qcfs-lambda search --calib-samples 64 \
  --json "$work/ss.json" --quiet --threads 2
/usr/bin/python3 - "$work" <<'PY' || fail "convert of a QCFS model"
import json, struct, sys
import numpy as np
w = sys.argv[1]
def tensors(d):
    b = open(d + "/model.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4")
            for k, v in h.items() if k != "__metadata__"}
ann, s = tensors(w + "/q"), tensors(w + "/s")
for l in ("conv1.relu", "conv2.relu", "fc1.relu"):
    lam = ann[l + ".lambda"][0]
    assert s[l + ".v_th"][0] == lam and s[l + ".v0"][0] == np.float32(lam * 0.5), (l, lam, s[l + ".v_th"], s[l + ".v0"])
c = json.load(open(w + "/s.json"))["conversion"]
assert c["qcfs"]["levels"] == 4 and c["qcfs"]["v_th"] == "lambda" and c["half_init"] and not c["bias_shift"], c
assert c["source_train"]["act"] == "qcfs" and c["source_train"]["epochs"] == 1
# light calibration keeps lambda by default (no search), bias correction runs; --qcfs-lambda search refines it
kept = json.load(open(w + "/sl.json"))
assert kept["conversion"]["qcfs"]["lambda"] == "keep" and not kept["conversion"]["threshold_search"]
assert all(l["v_th_before"] == l["v_th_after"] for l in kept["calibration"]), kept["calibration"]
assert kept["conversion"]["bias_correction"]
srch = json.load(open(w + "/ss.json"))
assert srch["conversion"]["threshold_search"] and any(l["v_th_before"] != l["v_th_after"] for l in srch["calibration"])
PY
"$snn" eval --model "$work/sl" --limit 100 --json "$work/e.json" --quiet --threads 2 > /dev/null
/usr/bin/python3 -c "
import json; r = json.load(open('$work/e.json'))
assert r['conversion']['qcfs']['levels'] == 4 and len(r['accuracy_per_t']) == 2 and r['ann_accuracy'] > 30, r
" || fail "eval of a converted QCFS model"

# 3. --init: fine-tune a ReLU ANN into a QCFS one ...
"$snn" train-ann "${small[@]}" --out "$work/r"
"$snn" train-ann --dataset fmnist --epochs 1 --batch-size 64 --lr 0.01 --limit-train 320 --limit-test 200 \
  --quiet --threads 2 --act qcfs --levels 2 --init "$work/r" --out "$work/f" --json "$work/f.json"
/usr/bin/python3 -c "
import json; r = json.load(open('$work/f.json'))
assert r['qcfs']['levels'] == 2 and r['qcfs']['init'].endswith('/r') and r['arch'] == 'cnn', r['qcfs']
" || fail "--init"

# ... and an imported ONNX model (its own normalisation is kept) into a QCFS one that converts.
"$snn" import-onnx "$(dirname "${BASH_SOURCE[0]}")/../interop/fixtures/vgg_bn_op13.onnx" --out "$work/o" \
  --dataset fmnist --stats-samples 64 > /dev/null
"$snn" train-ann --dataset fmnist --epochs 1 --batch-size 64 --lr 0.01 --limit-train 320 --limit-test 200 \
  --quiet --threads 2 --act qcfs --levels 4 --init "$work/o" --out "$work/oq" --json "$work/oq.json"
/usr/bin/python3 -c "
import json; r = json.load(open('$work/oq.json'))
assert r['qcfs']['layers'] == 5 and r['arch'] == 'onnx', r['qcfs']
" || fail "--init from an imported ONNX model"
"$snn" convert --model "$work/oq" --T 4 --out "$work/os" --quiet --threads 2

# 4. Refusals.
expect_error "only with --act qcfs" "$snn" train-ann "${small[@]}" --levels 4 --out "$work/x1"
expect_error "leave out --clip" "$snn" train-ann "${small[@]}" --act qcfs --clip 2 --out "$work/x2"
expect_error "unknown activation" "$snn" train-ann "${small[@]}" --act gelu --out "$work/x3"
expect_error "give --act qcfs" "$snn" train-ann --dataset fmnist --init "$work/r" --out "$work/x4" --quiet
expect_error "comes from --init" "$snn" train-ann --dataset fmnist --arch vgg16 --act qcfs --init "$work/r" --out "$work/x5" --quiet
expect_error "second half step" "$snn" convert --model "$work/q" --bias-shift --out "$work/x6" --quiet
expect_error "trained lambda" "$snn" convert --model "$work/q" --threshold p99.9 --out "$work/x7" --quiet
expect_error "--qcfs-lambda search" "$snn" convert --model "$work/q" --threshold-search --out "$work/x8" --quiet
expect_error "only when calibrating" "$snn" convert --model "$work/q" --qcfs-lambda search --out "$work/x9" --quiet
expect_error "only to a model trained with --act qcfs" "$snn" convert --model "$work/r" --calib light \
  --qcfs-lambda keep --out "$work/x10" --quiet
rm -rf "$work"
echo "qcfs CLI test passed"
