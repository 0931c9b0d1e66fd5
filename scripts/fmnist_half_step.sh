#!/usr/bin/env bash
# Does the half-step shift (v(0) = V_th/2) help the calibration presets at low T? (issue #27, item 2.) The zoo
# cnn of `make demo` on Fashion-MNIST (the ANN of scripts/demo.sh: 10 epochs, lr 0.05, seed 0, 2 threads),
# converted with --calib light and --calib advanced, each with the preset's half step (the default) and without
# it (--no-half-step), at T = 4 and T = 8, every SNN evaluated on all 10,000 test images. Writes the JSONs and a
# table to OUT.
# usage: scripts/fmnist_half_step.sh [BUILD_DIR]
#   env: ANN (a trained ANN directory; default: trains the demo's into WORK/ann), WORK (runs/fmnist_half_step),
#        OUT (docs/results/fmnist_half_step), TS ("4 8"), THREADS (2; results depend on the thread count)
set -euo pipefail
build=${1:-build}
snn="$build/snnkit"
work=${WORK:-runs/fmnist_half_step}
out=${OUT:-docs/results/fmnist_half_step}
threads=${THREADS:-2}
read -r -a ts <<< "${TS:-4 8}"
mkdir -p "$work" "$out/data"
ann=${ANN:-$work/ann}
if [ ! -f "$ann/model.json" ]; then
  resume=()
  [ -f "$ann/checkpoint.safetensors" ] && resume=(--resume)
  "$snn" train-ann --dataset fmnist --arch cnn --epochs 10 --lr 0.05 --seed 0 --threads "$threads" \
    --out "$ann" --json "$out/data/train_ann.json" --quiet "${resume[@]}"
fi
for T in "${ts[@]}"; do
  for c in light advanced; do
    for h in half-step no-half-step; do
      flags=()
      [ "$h" = no-half-step ] && flags=(--no-half-step)
      name=T${T}_${c}_${h}
      if [ ! -s "$out/data/$name.eval.json" ]; then
        rm -rf "${work:?}/$name"
        "$snn" convert --model "$ann" --T "$T" --calib "$c" "${flags[@]}" --threads "$threads" --quiet \
          --out "$work/$name" --json "$out/data/$name.convert.json" > /dev/null
        "$snn" eval --model "$work/$name" --T "$T" --threads "$threads" --quiet \
          --json "$out/data/$name.eval.json" > /dev/null
      fi
      echo "$name: $(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$out/data/$name.eval.json") %"
    done
  done
done

[ -f "$(dirname "$ann")/ann.json" ] && [ ! -f "$out/data/train_ann.json" ] && cp "$(dirname "$ann")/ann.json" "$out/data/train_ann.json"
/usr/bin/python3 - "$out" "${ts[*]}" "$threads" > "$out/table.md.tmp" <<'PY'
import json, sys
out, ts, threads = sys.argv[1], [int(t) for t in sys.argv[2].split()], sys.argv[3]
def ev(name):
    return json.load(open(f"{out}/data/{name}.eval.json"))
ann = ev(f"T{ts[0]}_light_half-step")["ann_accuracy"]
print("# Fashion-MNIST, zoo cnn: the calibration presets with and without the half-step shift v(0) = V_th/2")
print()
print(f"Made by `scripts/fmnist_half_step.sh` (THREADS={threads}): the ANN of `make demo` (zoo cnn, 10 epochs, lr 0.05, "
      f"seed 0; `data/train_ann.json`), {ann:.2f} % on the 10,000 test images; every SNN on all 10,000 test images "
      "(accuracy after T steps).")
print()
print("| T | preset | with half step (default) % | without (`--no-half-step`) % | difference (points) | calibration s (with / without) |")
print("|---|---|---|---|---|---|")
for T in ts:
    for c in ("light", "advanced"):
        a, b = ev(f"T{T}_{c}_half-step"), ev(f"T{T}_{c}_no-half-step")
        ca = json.load(open(f"{out}/data/T{T}_{c}_half-step.convert.json"))["calibration_seconds"]
        cb = json.load(open(f"{out}/data/T{T}_{c}_no-half-step.convert.json"))["calibration_seconds"]
        print(f"| {T} | {c} | {a['accuracy']:.2f} | {b['accuracy']:.2f} | {a['accuracy'] - b['accuracy']:+.2f} | {ca:.1f} / {cb:.1f} |")
PY
mv "$out/table.md.tmp" "$out/table.md"
cat "$out/table.md"
