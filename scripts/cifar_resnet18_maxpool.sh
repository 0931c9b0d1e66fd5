#!/usr/bin/env bash
# The zoo resnet18 (ImageNet layout: 7x7 stride-2 stem, 3x3 stride-2 max-pool, four stages) on CIFAR-10 (JPEG
# q75), converted to an SNN whose max-pool is the gated spiking max-pool (Rueckauer et al. 2017; issue #27,
# item 4). A short-budget ANN (default: two epochs over the first 20,000 training images, class-interleaved, lr 0.05; a
# full ResNet-18 run takes many hours on the 2 shared cores this was made on), converted without calibration
# and with light calibration (CALIB_SAMPLES images) at T = 8, 16, 32 and evaluated on LIMIT class-balanced
# test images. Runs scripts/cifar_conversion_table.sh (resumable: every step is skipped when its JSON exists),
# then copies the JSONs to DOCS/data and writes DOCS/table.md.
#
# usage: scripts/cifar_resnet18_maxpool.sh [BUILD_DIR]
#   env: EPOCHS (2), TRAIN_FLAGS ("--limit-train 20000 --lr 0.05"), TS ("8 16 32"), METHODS ("none light"),
#        LIMIT (500; 0 = all 10,000), CALIB_SAMPLES (256), THREADS (1: on the loaded 2-core machine
#        2 threads ran far slower than 1),
#        OUT (models; runs/cifar_resnet18_maxpool), DATA (runs/cifar10-jpeg, see scripts/cifar_data.sh),
#        DOCS (docs/results/cifar10_resnet18_maxpool)
set -euo pipefail
build=${1:-build}
export ARCH=resnet18
export EPOCHS=${EPOCHS:-2} TRAIN_FLAGS=${TRAIN_FLAGS:-"--limit-train 20000 --lr 0.05"} TS=${TS:-"8 16 32"}
export METHODS=${METHODS:-"none light"} LIMIT=${LIMIT:-500} CALIB_SAMPLES=${CALIB_SAMPLES:-256}
export THREADS=${THREADS:-1} OUT=${OUT:-runs/cifar_resnet18_maxpool} DATA=${DATA:-runs/cifar10-jpeg}
docs=${DOCS:-docs/results/cifar10_resnet18_maxpool}
mkdir -p "$OUT" "$docs/data"
bash "$(dirname "${BASH_SOURCE[0]}")/cifar_conversion_table.sh" "$build" | tee "$OUT/table.txt"

cp "$OUT/ann.json" "$docs/data/train_ann.json"
for f in "$OUT"/snn/*.json; do
  cp "$f" "$docs/data/$(basename "$f")"
done
{
  echo "# CIFAR-10 (JPEG q75), zoo resnet18 with a spiking max-pool: a short-budget ANN ($EPOCHS epochs, $TRAIN_FLAGS)"
  echo
  echo "Made by \`scripts/cifar_resnet18_maxpool.sh\` (THREADS=$THREADS): the ANN trained for $EPOCHS epoch(s) ($TRAIN_FLAGS) only (the"
  echo "defaults of \`train-ann\`: SGD, cosine schedule, crop + flip), so its accuracy is far from a fully trained"
  echo "ResNet-18's; the table shows how close the converted SNN, max-pool included, comes to that ANN. The max-pool"
  echo "converts to the gated spiking max-pool (Rueckauer et al. 2017; \`src/snnkit/nn/spike_max_pool.cpp\`). none ="
  echo "threshold balancing (max activation), simulated once for T = max(TS); light = \`--calib light\` (half step"
  echo "v(0) = V_th/2 + threshold search + bias correction, on $CALIB_SAMPLES training images) at each T. Test images: the ones in the table"
  echo "(class-balanced), the ANN evaluated on the same images. JSONs (with provenance) in \`data/\`."
  echo; sed -n '/^CIFAR-10/,$p' "$OUT/table.txt"
} > "$docs/table.md.tmp"
mv "$docs/table.md.tmp" "$docs/table.md"
echo "wrote $docs/table.md"
