#!/usr/bin/env bash
# The main job end to end on Fashion-MNIST: train the zoo's small CNN (ANN) and print a results table.
# (Conversion, calibration and SNN evaluation join this script as they land.)
# usage: scripts/demo.sh [BUILD_DIR]      env: EPOCHS (default 8), OUT (default runs/demo)
set -euo pipefail
build=${1:-build}
out=${OUT:-runs/demo}
epochs=${EPOCHS:-8}
snn="$build/snnkit"
mkdir -p "$out"

echo "== 1/1 train the ANN (zoo cnn, Fashion-MNIST, $epochs epochs)"
"$snn" train-ann --dataset fmnist --arch cnn --epochs "$epochs" --lr 0.05 --seed 0 \
  --out "$out/ann" --json "$out/ann.json"

/usr/bin/env python3 - "$out/ann.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print()
print("| model | dataset | epochs | test accuracy | training time |")
print("|---|---|---|---|---|")
print(f"| ANN {r['arch']} | Fashion-MNIST | {r['epochs']} | {r['test_accuracy']:.2f} % | {r['train_seconds']:.0f} s |")
PY
