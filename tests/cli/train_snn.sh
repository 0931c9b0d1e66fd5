#!/usr/bin/env bash
# CLI test of `snnkit train-snn` on a small slice of Fashion-MNIST: trains with Dspike adaptation, checks the
# JSON result, the Dspike log, the saved model (evaluated by `snnkit eval`), resume, and bad-input errors.
# usage: train_snn.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$1
work=$2/tmp_cli_train_snn
rm -rf "$work"; mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
py=/usr/bin/python3

# 1. Two epochs with Dspike temperature adaptation on 1,280 images (FDG on 32 of the 144 first-layer weights).
"$snn" train-snn --dataset fmnist --arch cnn --T 4 --epochs 2 --batch-size 64 --lr 0.05 --limit-train 1280 \
  --limit-test 500 --eval-batch-size 96 --surrogate dspike --dspike-adapt --fdg-coords 32 --out "$work/m" --json "$work/r.json" \
  --quiet --threads 2 > "$work/stdout"
for f in model.json model.safetensors checkpoint.safetensors train_log.jsonl; do
  [ -s "$work/m/$f" ] || fail "missing $f"
done
$py - "$work/r.json" <<'PY' || fail "train-snn JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["command"] == "train-snn" and r["T"] == 4, r
assert 20 < r["test_accuracy"] <= 100, r["test_accuracy"]
assert r["peak_rss_mib"] > 0
assert r["train_samples"] == 1280 and r["test_samples"] == 500, r
assert r["train"]["batch_size"] == 64 and r["train"]["lr"] == 0.05 and r["train"]["epochs"] == 2, r["train"]
assert r["train"]["augment"] == "none", r["train"]  # the (F)MNIST default
assert r["train"]["eval_batch_size"] == 96, r["train"]  # an explicit --eval-batch-size is kept
h = r["history"]
assert len(h) == 2
for e in h:
    d = e["dspike"]
    assert d["coords"] == 32
    assert len(d["candidates"]) == 3 and len(d["cosine"]) == 3
    assert d["b"] in d["candidates"]
    assert d["candidates"][1] - d["candidates"][0] == 0.5 or d["candidates"][0] == 0.05
assert h[1]["dspike"]["candidates"][1] == h[0]["dspike"]["b"], "epoch 2 starts from epoch 1's b"
PY
[ "$(wc -l < "$work/m/train_log.jsonl")" = 2 ] || fail "log should have 2 epochs"
grep -q '"dspike"' "$work/m/train_log.jsonl" || fail "no Dspike entries in the log"
grep -q '"kind": *"snn"' "$work/m/model.json" || fail "model kind"

# 2. The trained SNN is evaluated by `snnkit eval`; its final accuracy equals training's test accuracy.
"$snn" eval --model "$work/m" --T 4 --limit 500 --json "$work/e.json" --quiet --threads 2 > /dev/null
$py - "$work/r.json" "$work/e.json" <<'PY' || fail "eval of the trained SNN"
import json, sys
r, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert len(e["accuracy_per_t"]) == 4
assert abs(e["accuracy"] - r["test_accuracy"]) < 1e-9, (e["accuracy"], r["test_accuracy"])
PY

# 3. Interrupted after 7 steps and resumed: bit-identical weights to an uninterrupted run (Dspike
# adaptation and a dropout mask shared over time, both restored from the checkpoint). A resume with
# another dropout mode or without the adaptation is refused.
no_T_dropout=(train-snn --dataset fmnist --arch cnn --epochs 1 --batch-size 64 --limit-train 960 --limit-test 100
              --surrogate dspike --quiet --threads 2)
no_T=("${no_T_dropout[@]}" --dropout 0.3)
common=("${no_T[@]}" --T 2)
adapt=(--dspike-adapt --fdg-coords 16)
args=("${common[@]}" "${adapt[@]}" --dropout-mask shared)
adapt_base=(train-snn --dataset fmnist --arch cnn --epochs 1 --batch-size 64 --limit-train 960 --limit-test 100
            --surrogate dspike --quiet --threads 2 --dropout 0.3 --T 2 --dspike-adapt --dropout-mask shared)
"$snn" "${args[@]}" --out "$work/full" --json "$work/full.json" > /dev/null
set +e; "$snn" "${args[@]}" --out "$work/part" --max-steps 7 > /dev/null 2>"$work/err"; rc=$?; set -e
[ $rc -ne 0 ] || fail "interrupted run should exit non-zero"
grep -q "resume" "$work/err" || fail "interrupted run should say how to resume"
expect_error "checkpoint was made with --dropout-mask shared, not per-step" \
  "$snn" "${common[@]}" "${adapt[@]}" --out "$work/part" --resume
expect_error "checkpoint was made with --dspike-adapt" \
  "$snn" "${common[@]}" --dropout-mask shared --out "$work/part" --resume
# ... as is one with another T, dropout, neuron, Dspike adaptation or optimizer setting
expect_error "checkpoint was made with --T 2, not 3" \
  "$snn" "${no_T[@]}" --T 3 "${adapt[@]}" --dropout-mask shared --out "$work/part" --resume
expect_error "checkpoint was made with neuron settings (lif, alpha 0.5," \
  "$snn" "${args[@]}" --alpha 0.9 --out "$work/part" --resume
expect_error "checkpoint was made with model settings (arch cnn, dropout 0.3), not (arch cnn, dropout 0.5)" \
  "$snn" "${no_T_dropout[@]}" --dropout 0.5 --T 2 "${adapt[@]}" --dropout-mask shared --out "$work/part" --resume
expect_error "checkpoint was made with Dspike adaptation settings (db 0.5, eps 0.01, fdg coords 16), not (db 0.5, eps 0.01, fdg coords 8)" \
  "$snn" "${adapt_base[@]}" --fdg-coords 8 --out "$work/part" --resume
expect_error "checkpoint was made with Dspike adaptation settings (db 0.5, eps 0.01, fdg coords 16), not (db 0.25," \
  "$snn" "${adapt_base[@]}" --fdg-coords 16 --db 0.25 --out "$work/part" --resume
expect_error "checkpoint was made with Dspike adaptation settings (db 0.5, eps 0.01, fdg coords 16), not (db 0.5, eps 0.01, fdg coords 16, fdg bn batch)" \
  "$snn" "${adapt_base[@]}" --fdg-coords 16 --fdg-bn batch --out "$work/part" --resume
expect_error "checkpoint was made with --weight-decay 0.0005, not 0.1" \
  "$snn" "${args[@]}" --weight-decay 0.1 --out "$work/part" --resume
"$snn" "${args[@]}" --out "$work/part" --resume > /dev/null
cmp "$work/full/model.safetensors" "$work/part/model.safetensors" || fail "resumed weights differ"
# the shared masks reached training: the JSON says so, and per-step masks give other weights
$py -c "import json,sys; sys.exit(json.load(open('$work/full.json'))['dropout_mask'] != 'shared')" || fail "dropout_mask in JSON"
"$snn" "${common[@]}" "${adapt[@]}" --out "$work/per_step" > /dev/null
! cmp -s "$work/full/model.safetensors" "$work/per_step/model.safetensors" || fail "--dropout-mask shared changed nothing"
# A checkpoint from before --dropout-mask (no hook state) was trained with per-step masks: a resume with
# shared masks or with --dspike-adapt is refused; the same settings resume.
set +e; "$snn" "${common[@]}" --out "$work/old" --max-steps 3 > /dev/null 2>&1; set -e
$py - "$work/old/checkpoint.safetensors" <<'PY' || fail "rewriting the checkpoint"
import json, struct, sys
p = sys.argv[1]
b = open(p, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
h["__metadata__"]["hook_state"] = ""
t = json.dumps(h).encode()
t += b" " * (-(len(t) + 8) % 8)
open(p, "wb").write(struct.pack("<Q", len(t)) + t + b[8 + n:])
PY
expect_error "checkpoint was made with --dropout-mask per-step, not shared" \
  "$snn" "${common[@]}" --dropout-mask shared --out "$work/old" --resume
expect_error "checkpoint was made without --dspike-adapt" "$snn" "${common[@]}" "${adapt[@]}" --out "$work/old" --resume
"$snn" "${common[@]}" --out "$work/old" --resume > /dev/null

# 4. --init: the T = 4 model above starts a T = 2 run. After 4 low-lr steps it keeps most of the trained
# accuracy (58.4 % against 58.8 % when written; the same run from scratch gave 13 %).
"$snn" train-snn --dataset fmnist --arch cnn --T 2 --epochs 1 --batch-size 64 --lr 0.01 --limit-train 256 \
  --limit-test 500 --init "$work/m" --out "$work/init" --json "$work/init.json" --threads 2 > /dev/null 2>"$work/init.err"
grep -q "weights from $work/m" "$work/init.err" || fail "--init should say where the weights came from"
$py - "$work/r.json" "$work/init.json" <<'PY' || fail "--init result"
import json, sys
r, i = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert i["init"].endswith("/m"), i["init"]
# the auto test batch: the small CNN at T = 2 is far from the 1 GiB bound, so the cap of 200
assert i["train"]["eval_batch_size"] == 200, i["train"]
assert i["test_accuracy"] > r["test_accuracy"] - 15, (i["test_accuracy"], r["test_accuracy"])
PY
# A resume keeps the --init it was made with: without the flag the results still name it, another model is
# refused.
init_run=(train-snn --dataset fmnist --arch cnn --T 2 --epochs 1 --batch-size 64 --lr 0.01 --limit-train 256
          --limit-test 100 --threads 2 --quiet --out "$work/init2")
set +e; "$snn" "${init_run[@]}" --init "$work/m" --max-steps 1 > /dev/null 2>&1; set -e
[ -f "$work/init2/checkpoint.safetensors" ] || fail "the --init run should leave a checkpoint"
expect_error "checkpoint was made with --init $(realpath "$work/m"), not $(realpath "$work/init")" \
  "$snn" "${init_run[@]}" --init "$work/init" --resume
# interrupted again after a resume without --init: the next checkpoint still names the model, so the same
# --init is accepted at the second resume
set +e; "$snn" "${init_run[@]}" --resume --max-steps 2 > /dev/null 2>&1; set -e
"$snn" "${init_run[@]}" --init "$work/m" --resume --json "$work/init2.json" > /dev/null
$py - "$work/init2.json" "$work/init2/model.json" "$(realpath "$work/m")" <<'PY' || fail "--init after a resume"
import json, sys
assert json.load(open(sys.argv[1]))["init"] == sys.argv[3], json.load(open(sys.argv[1]))["init"]
assert json.load(open(sys.argv[2]))["meta"]["init"] == sys.argv[3]
PY

# 5. Bad input: one clear error line, non-zero exit.
base=(train-snn --dataset fmnist --limit-train 256 --limit-test 64 --epochs 1 --quiet --out "$work/x")
expect_error "unknown neuron" "$snn" "${base[@]}" --neuron izhikevich
expect_error "unknown augmentation" "$snn" "${base[@]}" --augment rotate
expect_error "unknown name 'gauss'" "$snn" "${base[@]}" --surrogate gauss
expect_error "needs --surrogate dspike" "$snn" "${base[@]}" --dspike-adapt
expect_error "--surrogate-param: must be a finite number >= 0" "$snn" "${base[@]}" --surrogate-param -1
expect_error "unknown reset" "$snn" "${base[@]}" --reset sideways
expect_error "--dropout-mask" "$snn" "${base[@]}" --dropout-mask sometimes
expect_error "--T" "$snn" "${base[@]}" --T 0
expect_error "--eval-batch-size" "$snn" "${base[@]}" --eval-batch-size -1
expect_error "--fdg-bn" "$snn" "${base[@]}" --surrogate dspike --dspike-adapt --fdg-bn sometimes
expect_error "--alpha" "$snn" "${base[@]}" --alpha 1.5
# flags that would change nothing are refused, not ignored
expect_error "--fdg-coords: has an effect only with --dspike-adapt" "$snn" "${base[@]}" --surrogate dspike --fdg-coords 8
expect_error "--b0: has an effect only with --dspike-adapt" "$snn" "${base[@]}" --surrogate dspike --b0 2
expect_error "--surrogate-param: with --dspike-adapt the temperature starts at --b0" \
  "$snn" "${base[@]}" --surrogate dspike --dspike-adapt --surrogate-param 2
expect_error "--alpha: --neuron if has no leak" "$snn" "${base[@]}" --neuron if --alpha 0.9
# an earlier run's checkpoint is neither overwritten (without --resume) nor resumed past its end
expect_error "checkpoint.safetensors: a checkpoint of an earlier run is here: continue it with --resume" \
  "$snn" "${args[@]}" --out "$work/part"
expect_error "no such file" "$snn" "${base[@]}" --init "$work/none"
expect_error "layer 'conv1'" "$snn" "${base[@]}" --arch cnn-plif --init "$work/m"
echo "train_snn.sh: all checks passed"
