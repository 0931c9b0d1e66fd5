#!/usr/bin/env bash
# The long CIFAR-10 result runs of issues #4 and #5, one after another. Each step is resumable and is skipped
# once its JSON exists, so this can be stopped at any time and run again to continue where it was: Ctrl-C,
# or SIGTERM to the running snnkit (or to the whole process group: `kill -- -PGID`; bash itself waits for
# its child before it acts on a signal). Order (shortest path to a finished table first):
#   1. direct SNN training, He ResNet-20, T = 2, adaptive Dspike (cifar_snn_table.sh; about 3.5 h here)
#   2. the VGG-16 conversion table: ANN for VGG_EPOCHS epochs, then none / bias shift / light / advanced at
#      T = 4 .. 64 on 2,000 test images (cifar_conversion_table.sh; about 9 h here)
#   3. the Fashion-MNIST surrogate table at full length: all 60,000 training images, FMNIST_EPOCHS epochs, the
#      seven surrogates (snn_surrogate_table.sh, OUT runs/snn_surrogates_e$FMNIST_EPOCHS; about 2 h at 10)
#   4. the rest of the CIFAR SNN table: T = 2 with fixed Dspike b = 3, then T = 4 adaptive and fixed (about 17 h)
# Continuing across sessions needs a machine that keeps runs/ (ignored by git) between them; a fresh clone
# starts every step again from nothing. Where sessions do not keep it, run one step per session with settings
# that fit (e.g. EPOCHS=5 TS=2 RUNS=dspike-adapt bash scripts/cifar_snn_table.sh build).
# usage: scripts/long_runs.sh [BUILD_DIR]
#   env: EPOCHS (CIFAR SNN epochs, 30), VGG_EPOCHS (25), FMNIST_EPOCHS (10), THREADS (0 = all cores), DATA
#        (the CIFAR-10 tree); the steps' other variables
#        (ARCH, TS, RUNS, LIMIT, OUT, TRAIN_FLAGS, T, OPT) are set per step or left at their defaults.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset ARCH TS RUNS LIMIT OUT TRAIN_FLAGS T OPT
log() { echo "[$(date +%H:%M:%S)] long_runs: $*"; }

log "step 1/4: CIFAR-10 SNN, resnet20-he, T = 2, adaptive Dspike"
TS=2 RUNS=dspike-adapt bash "$here/cifar_snn_table.sh" "$build"
log "step 2/4: CIFAR-10 VGG-16 conversion table"
ARCH=vgg16 EPOCHS=${VGG_EPOCHS:-25} LIMIT=2000 bash "$here/cifar_conversion_table.sh" "$build"
fe=${FMNIST_EPOCHS:-10}
log "step 3/4: Fashion-MNIST surrogate table, $fe epochs on all training images"
EPOCHS=$fe LIMIT=0 OUT=runs/snn_surrogates_e$fe THREADS=${THREADS:-2} bash "$here/snn_surrogate_table.sh" "$build"
log "step 4/4: CIFAR-10 SNN, the remaining runs"
bash "$here/cifar_snn_table.sh" "$build"
log "all done"
