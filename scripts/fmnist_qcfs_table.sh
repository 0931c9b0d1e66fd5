#!/usr/bin/env bash
# QCFS on Fashion-MNIST (issue #27): train the zoo cnn with QCFS activations (train-ann --act qcfs --levels L),
# convert it (V_th = lambda, v(0) = V_th/2, soft reset) at T = 2 and T = 4 without calibration and with light
# and advanced calibration, each with the trained lambda kept and with lambda refined by the threshold
# search (--qcfs-lambda keep | search), evaluate every SNN on all 10,000 test images, and write the JSON
# results and a table (gap = SNN accuracy at T minus its own ANN's, on the same images).
# usage: scripts/fmnist_qcfs_table.sh [BUILD_DIR]
#   env: OUT (default docs/results/fmnist_qcfs), WORK (models; default runs/fmnist_qcfs), LEVELS (4), EPOCHS (3),
#        THREADS (2; results depend on the thread count), TS ("2 4")
set -euo pipefail
build=${1:-build}
snn="$build/snnkit"
out=${OUT:-docs/results/fmnist_qcfs}
work=${WORK:-runs/fmnist_qcfs}
L=${LEVELS:-4}
epochs=${EPOCHS:-3}
threads=${THREADS:-2}
Ts=${TS:-"2 4"}
mkdir -p "$out/data" "$work"

echo "== train the zoo cnn with QCFS (L = $L, $epochs epochs)"
if [ ! -f "$work/ann/model.json" ]; then
  resume=()
  [ -f "$work/ann/checkpoint.safetensors" ] && resume=(--resume)
  "$snn" train-ann --dataset fmnist --arch cnn --act qcfs --levels "$L" --epochs "$epochs" --lr 0.05 --seed 0 \
    --threads "$threads" --out "$work/ann" --json "$out/data/train_ann.json" --quiet "${resume[@]}"
fi

for T in $Ts; do
  for c in none light:keep light:search advanced:keep advanced:search; do
    calib=${c%%:*}
    name="T${T}_${calib}"
    flags=(--calib "$calib")
    if [ "$calib" != none ]; then
      name="${name}_${c##*:}"
      flags+=(--qcfs-lambda "${c##*:}")
    fi
    echo "== T = $T, $c"
    "$snn" convert --model "$work/ann" --T "$T" "${flags[@]}" --threads "$threads" --out "$work/$name" \
      --json "$out/data/conv_$name.json" --quiet > /dev/null
    "$snn" eval --model "$work/$name" --T "$T" --threads "$threads" --json "$out/data/eval_$name.json" --quiet > /dev/null
  done
done

/usr/bin/python3 - "$out" "$Ts" <<'PY' | tee "$out/table.md"
import glob, json, os, sys
out, Ts = sys.argv[1], [int(t) for t in sys.argv[2].split()]
tr = json.load(open(f"{out}/data/train_ann.json"))
q = tr["qcfs"]
print(f"# Fashion-MNIST, zoo cnn trained with QCFS (L = {q['levels']}, {tr['epochs']} epochs)")
print()
print("Made by `scripts/fmnist_qcfs_table.sh` (2 threads). The ANN: "
      f"{tr['test_accuracy']:.2f} % test accuracy; lambda per layer initial -> trained: " +
      ", ".join(f"{k} {q['lambda_initial'][k]:.3f} -> {q['lambda_final'][k]:.3f}" for k in q["lambda_final"]) + ".")
print("Every SNN is evaluated on all 10,000 test images; gap = SNN accuracy at T minus its own ANN's (same images).")
print()
print("| T | calibration | lambda | SNN accuracy % | ANN accuracy % | gap (points) | V_th per layer | layer MSE (ANN act. vs SNN rate) | calibration s |")
print("|---|---|---|---|---|---|---|---|---|")
for T in Ts:
    for f in sorted(glob.glob(f"{out}/data/eval_T{T}_*.json"), key=lambda p: ("none" not in p, "advanced" in p, p)):
        name = os.path.basename(f)[len("eval_"):-len(".json")]
        e = json.load(open(f))
        c = json.load(open(f"{out}/data/conv_{name}.json"))
        acc, ann = e["accuracy_per_t"][T - 1], e["ann_accuracy"]
        parts = name.split("_")
        lam = parts[2] if len(parts) > 2 else "-"
        assert e["samples"] == 10000, f"{name}: {e['samples']} test images"
        vth = " / ".join(f"{l['v_th_after']:.3f}" for l in c["calibration"]) or "= lambda"
        mse = " / ".join(f"{l['conversion_mse']:.4f}" for l in e["layers"] if "conversion_mse" in l)
        print(f"| {T} | {parts[1]} | {lam} | {acc:.2f} | {ann:.2f} | {acc - ann:+.2f} | {vth} | {mse} | "
              f"{c['calibration_seconds']:.1f} |")
PY
