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
o = json.load(open(w + "/info_stdout.json"))
pi, po = i.pop("provenance"), o.pop("provenance")  # the command lines (and maybe the second) differ
assert pi["command"].endswith("--json " + w + "/info.json") and po["command"].endswith("--json -"), (pi, po)
assert pi["git_commit"] == po["git_commit"] and pi["libtorch"] == po["libtorch"], (pi, po)
assert i == o, "--json - differs from the file"
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
# a resume that would build another model (here clipped ReLUs) is refused
expect_error "checkpoint was made with model settings (arch cnn, dropout 0.3), not (arch cnn, dropout 0.3, clip 1.0)" \
  "$snn" "${args[@]}" --clip 1 --out "$work/part" --resume
expect_error "checkpoint was made with model settings (arch cnn, dropout 0.3), not (arch cnn-plif, dropout 0.5)" \
  "$snn" "${args[@]/cnn/cnn-plif}" --out "$work/part" --resume
# the architecture's default dropout (0.3 for cnn) written out is the same model
"$snn" "${args[@]}" --dropout 0.3 --out "$work/part" --resume
cmp "$work/full/model.safetensors" "$work/part/model.safetensors" || fail "resumed weights differ"
# --seed draws the initial weights too: at lr 1e-30 the saved weights are the initial ones (the steps move
# them by less than float precision), so two seeds must give different first-layer weights.
lr0=(train-ann --dataset fmnist --arch cnn --epochs 1 --batch-size 64 --limit-train 128 --limit-test 32
     --stats-samples 32 --lr 1e-30 --quiet --threads 2)
"$snn" "${lr0[@]}" --seed 1 --out "$work/seed1" > /dev/null
"$snn" "${lr0[@]}" --seed 2 --out "$work/seed2" > /dev/null
"$snn" "${lr0[@]}" --seed 1 --out "$work/seed1b" > /dev/null
/usr/bin/python3 - "$work/seed1/model.safetensors" "$work/seed2/model.safetensors" "$work/seed1b/model.safetensors" <<'PY' ||
import json, struct, sys
def first_conv(path):  # raw bytes of the first 4-d ".weight" tensor (by name) of a safetensors file
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    name = sorted(k for k, v in h.items() if k.endswith(".weight") and len(v["shape"]) == 4)[0]
    s, e = h[name]["data_offsets"]
    return b[8 + n + s:8 + n + e]
a, b, c = (first_conv(p) for p in sys.argv[1:])
assert a != b, "--seed 1 and --seed 2 start from the same weights"
assert a == c, "the same --seed gave other initial weights"
PY
  fail "--seed should draw the initial weights"

# 3. ImageFolder labels are the index of the sorted class folders: a split that lacks a folder would shift
# the labels after it. Training refuses splits with different folders; eval refuses a test split whose
# folders differ from the ones the model was trained on (the model keeps them in its meta).
/usr/bin/python3 - "$work/folder" <<'PY' || fail "writing the ImageFolder fixture"
import os, struct, sys, zlib
def png(path, value):  # an 8x8 RGB PNG, one shade
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + bytes([value, 255 - value, value // 2]) * 8 for _ in range(8))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
root = sys.argv[1]
for split, n in (("train", 6), ("test", 2)):
    for k, c in enumerate(("ants", "bees", "cats")):
        for i in range(n):
            png(f"{root}/{split}/{c}/{i}.png", 40 * k + 10 * i)
PY
folder=(--dataset imagefolder --data "$work/folder" --arch cnn --epochs 1 --batch-size 6 --stats-samples 6 --quiet --threads 2)
"$snn" train-ann "${folder[@]}" --out "$work/fm" > /dev/null
/usr/bin/python3 -c "import json,sys; sys.exit(json.load(open('$work/fm/model.json'))['meta']['classes'] != ['ants','bees','cats'])" ||
  fail "the model should keep its class folders"
"$snn" eval --model "$work/fm" --data "$work/folder" --quiet --threads 2 > /dev/null
"$snn" convert --model "$work/fm" --data "$work/folder" --T 4 --out "$work/fm_snn" --quiet --threads 2 > /dev/null
mv "$work/folder/test/bees" "$work/bees"
expect_error "3 vs 2; first difference: train 'bees', test 'cats'" "$snn" eval --model "$work/fm" --data "$work/folder" --quiet
expect_error "different class folders" "$snn" eval --model "$work/fm_snn" --data "$work/folder" --quiet
expect_error "different class folders" "$snn" stats --model "$work/fm_snn" --data "$work/folder" --quiet
expect_error "different class folders" "$snn" train-ann "${folder[@]}" --out "$work/fm2"

# 4. Bad input: one clear error line, non-zero exit.
expect_error "not found" "$snn" train-ann --dataset mnist --data "$work/nowhere" --out "$work/x" --quiet
expect_error "unknown architecture" "$snn" train-ann --arch lenet9 --out "$work/x" --quiet --limit-train 256
expect_error "--bogus" "$snn" train-ann --bogus --out "$work/x"
expect_error "unknown dataset" "$snn" train-ann --dataset svhn --data /tmp --out "$work/x" --quiet
# flags that would change nothing are refused (before any data is read)
expect_error "--lr-min: has an effect only with --schedule cosine" "$snn" train-ann --schedule constant --lr-min 0.001 --out "$work/x"
expect_error "--momentum: has an effect only with --optimizer sgd" "$snn" train-ann --optimizer adam --momentum 0.5 --out "$work/x"
expect_error "--crop-pad: has an effect only with a random crop" "$snn" train-ann --dataset fmnist --crop-pad 2 --out "$work/x"
expect_error "model.json" "$snn" info "$work/nowhere"
echo "train_ann.sh: all checks passed"
