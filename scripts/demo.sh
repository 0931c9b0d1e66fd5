#!/usr/bin/env bash
# The main job end to end on Fashion-MNIST: train the zoo's small CNN (ANN), convert it to an SNN at
# T = 8 without calibration, with the bias shift, and with light and advanced calibration; train the same
# CNN conversion-aware (QCFS activations, L = 4 levels) and convert it without and with light calibration;
# evaluate each SNN over T steps (with operation counts and energy), print a results table, and draw the
# charts and the results page with `snnkit report` (OUT/report/index.md).
# usage: scripts/demo.sh [BUILD_DIR]     env: EPOCHS (default 10, both ANNs), T (default 8), OUT (default
#        runs/demo), THREADS (default 2, as the README's numbers: results depend on the thread count)
set -euo pipefail
build=${1:-build}
out=${OUT:-runs/demo}
epochs=${EPOCHS:-10}
T=${T:-8}
threads=${THREADS:-2}
snn="$build/snnkit"
mkdir -p "$out"

echo "== 1/4 train the ANNs (zoo cnn, Fashion-MNIST, $epochs epochs): ReLU, then QCFS (L = 4)"
resume=() # run again, the demo continues (or just re-saves) its ANN instead of refusing the old checkpoint
[ -f "$out/ann/checkpoint.safetensors" ] && resume=(--resume)
"$snn" train-ann --dataset fmnist --arch cnn --epochs "$epochs" --lr 0.05 --seed 0 --threads "$threads" \
  --out "$out/ann" --json "$out/ann.json" "${resume[@]}"
resume=()
[ -f "$out/ann_qcfs/checkpoint.safetensors" ] && resume=(--resume)
"$snn" train-ann --dataset fmnist --arch cnn --act qcfs --levels 4 --epochs "$epochs" --lr 0.05 --seed 0 \
  --threads "$threads" --out "$out/ann_qcfs" --json "$out/ann_qcfs.json" "${resume[@]}"

echo "== 2/4 convert at T = $T: none, bias shift, light and advanced calibration; the QCFS ANN without and with light"
"$snn" convert --model "$out/ann" --T "$T" --threads "$threads" --out "$out/snn_none" --quiet
"$snn" convert --model "$out/ann" --T "$T" --threads "$threads" --out "$out/snn_shift" --bias-shift --quiet
"$snn" convert --model "$out/ann" --T "$T" --threads "$threads" --out "$out/snn_light" --calib light --json "$out/conv_light.json"
"$snn" convert --model "$out/ann" --T "$T" --threads "$threads" --out "$out/snn_advanced" --calib advanced --json "$out/conv_advanced.json"
"$snn" convert --model "$out/ann_qcfs" --T "$T" --threads "$threads" --out "$out/snn_qcfs" --quiet
"$snn" convert --model "$out/ann_qcfs" --T "$T" --threads "$threads" --out "$out/snn_qcfs_light" --calib light \
  --json "$out/conv_qcfs_light.json"

echo "== 3/4 evaluate each SNN over T = $T steps (10,000 test images; SOPs and energy from the same run)"
for m in none shift light advanced qcfs qcfs_light; do
  "$snn" eval --model "$out/snn_$m" --T "$T" --threads "$threads" --stats --json "$out/eval_$m.json" --quiet > "$out/eval_$m.txt"
done

/usr/bin/env python3 - "$out" "$T" <<'PY'
import json, sys
out, T = sys.argv[1], int(sys.argv[2])
ann = json.load(open(f"{out}/ann.json"))
qann = json.load(open(f"{out}/ann_qcfs.json"))
print()
print(f"Fashion-MNIST, zoo cnn, ANN trained {ann['epochs']} epochs in {ann['train_seconds']:.0f} s; the same "
      f"with QCFS activations (L = 4) in {qann['train_seconds']:.0f} s")
print()
print("| model | " + " | ".join(f"t={t}" for t in (1, 2, 4, 8, 16, 32, 64) if t <= T) + " | energy ANN/SNN |")
print("|---|" + "---|" * (1 + len([t for t in (1, 2, 4, 8, 16, 32, 64) if t <= T])))
print(f"| ANN | {ann['test_accuracy']:.2f} % (all t) |")
print(f"| QCFS ANN (conversion-aware, L = 4) | {qann['test_accuracy']:.2f} % (all t) |")
names = {"none": "SNN, max threshold", "shift": "SNN, + bias shift", "light": "SNN, light calibration",
         "advanced": "SNN, advanced calibration", "qcfs": "SNN from the QCFS ANN (V_th = lambda, v(0) = V_th/2)",
         "qcfs_light": "SNN from the QCFS ANN, light calibration"}
for m, label in names.items():
    r = json.load(open(f"{out}/eval_{m}.json"))
    acc = r["accuracy_per_t"]
    ratio = r["stats"]["totals"]["ann_to_snn_energy"]
    print(f"| {label} | " + " | ".join(f"{acc[t-1]:.2f} %" for t in (1, 2, 4, 8, 16, 32, 64) if t <= T) +
          f" | {ratio:.1f}x |")
PY

echo
echo "== 4/4 charts and results page"
"$snn" report "$out/ann.json" "$out/ann_qcfs.json" "$out/conv_light.json" "$out/conv_advanced.json" \
  "$out/conv_qcfs_light.json" "$out/eval_none.json" "$out/eval_shift.json" "$out/eval_light.json" \
  "$out/eval_advanced.json" "$out/eval_qcfs.json" "$out/eval_qcfs_light.json" \
  --out "$out/report" --title "snnkit demo: Fashion-MNIST ANN -> SNN"
