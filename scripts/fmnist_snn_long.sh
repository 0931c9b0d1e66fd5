#!/usr/bin/env bash
# The full-length Fashion-MNIST direct SNN training of issue #5 (target 2: >= 94 % at T = 4): zoo cnn-plif
# (the PLIF paper's two 128-channel conv blocks + fc2048), LIF alpha 0.5, V_th 1, hard reset, atan surrogate,
# Adam lr 1e-3 cosine, random crop (pad 2) + horizontal flip, dropout 0.2, seed 0. Resumable: run it again
# after a stop and it continues from the last checkpoint (every 50 steps). Prints train-snn's result line.
# usage: scripts/fmnist_snn_long.sh [BUILD_DIR]
#   env: EPOCHS (32), T (4), OUT (runs/fmnist_plif_aug), THREADS (2)
set -euo pipefail
build=${1:-build}
out=${OUT:-runs/fmnist_plif_aug}
resume=()
[ -f "$out/checkpoint.safetensors" ] && resume=(--resume)
mkdir -p "$(dirname "$out")"
echo "[$(date +%H:%M:%S)] fmnist_snn_long: ${resume[*]:-start} $out"
"$build/snnkit" train-snn --dataset fmnist --arch cnn-plif --T "${T:-4}" --epochs "${EPOCHS:-32}" --dropout 0.2 \
  --optimizer adam --lr 0.001 --weight-decay 0 --augment crop+flip --crop-pad 2 --threads "${THREADS:-2}" \
  --checkpoint-steps 50 --seed 0 --out "$out" --json "$out.json" "${resume[@]}"
