#!/usr/bin/env bash
# Direct SNN training on CIFAR-10 (JPEG q75), issue #5's CIFAR table: a zoo net (default the He ResNet-20)
# trained by BPTT at each T with each surrogate, then a Markdown table of test accuracy, epochs, training
# time, peak memory and (Dspike adaptive) the temperature b kept per epoch. Each run writes its JSON under
# $OUT and is skipped when that JSON exists (a JSON of another epoch count stops the script); an interrupted
# run resumes from its checkpoint (every 50 steps and at SIGINT/SIGTERM), so the script can be stopped
# (Ctrl-C, the end of a session) and run again to continue.
#
# usage: scripts/cifar_snn_table.sh [BUILD_DIR]
#   env: ARCH (resnet20-he), TS ("2 4"), EPOCHS (30), RUNS ("dspike-adapt dspike": adaptive against fixed
#        b = 3, the controlled pair; any of rect triangle exp sigmoid atan dspike dspike-adapt),
#        DATA (runs/cifar10-jpeg, extracted from ../shared/datasets when missing),
#        OUT (runs/cifar_snn_$ARCH), THREADS (0 = all cores), FDG_COORDS (Dspike adaptive: first-layer
#        weights in the finite-difference gradient: 128 of the ResNet-20's 432 on a CPU; 0 = all),
#        TRAIN_FLAGS (extra train-snn flags, e.g. "--limit-train 512 --limit-test 200" for a smoke run).
#   Training: train-snn's defaults (SGD momentum 0.9, lr 0.1 cosine, weight decay 5e-4, batch 128, random
#   crop + flip, LIF alpha 0.5, V_th 1, hard reset), seed 0, direct input.
set -euo pipefail
build=${1:-build}
arch=${ARCH:-resnet20-he}
epochs=${EPOCHS:-30}
data=${DATA:-runs/cifar10-jpeg}
out=${OUT:-runs/cifar_snn_$arch}
read -r -a ts <<< "${TS:-2 4}"
read -r -a runs <<< "${RUNS:-dspike-adapt dspike}"
threads=${THREADS:-0}
coords=${FDG_COORDS:-128}
read -r -a extra <<< "${TRAIN_FLAGS:-}"
snn="$build/snnkit"
source "$(dirname "${BASH_SOURCE[0]}")/cifar_data.sh"
source "$(dirname "${BASH_SOURCE[0]}")/result_done.sh"
mkdir -p "$out"
log() { echo "[$(date +%H:%M:%S)] $*"; }

cifar_data_ready "$data"

for t in "${ts[@]}"; do
  for name in "${runs[@]}"; do
    dir=$out/$name-T$t
    if result_done "$dir.json" "$epochs"; then
      log "$name T=$t: done already ($dir.json)"
      continue
    fi
    case $name in
      dspike-adapt) sg=(--surrogate dspike --dspike-adapt --b0 3 --db 0.5 --fdg-coords "$coords") ;;
      rect | triangle | exp | sigmoid | atan | dspike) sg=(--surrogate "$name") ;;
      *) echo "cifar_snn_table: unknown run '$name'" >&2; exit 2 ;;
    esac
    resume=()
    [ -f "$dir/checkpoint.safetensors" ] && resume=(--resume) && log "resuming $name T=$t from $dir"
    log "train $name T=$t, $epochs epochs"
    "$snn" train-snn --dataset cifar10 --data "$data" --arch "$arch" --T "$t" --epochs "$epochs" --seed 0 \
      --threads "$threads" "${sg[@]}" --out "$dir" --json "$dir.json" "${resume[@]}" "${extra[@]}" \
      --checkpoint-steps 50 2> >(stdbuf -oL tr '\r' '\n' | grep --line-buffered -v "ETA" >&2)
  done
done

/usr/bin/env python3 - "$out" "${ts[*]}" "${runs[@]}" <<'PY'
import json, sys
out, ts, runs = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
print()
print("CIFAR-10 (JPEG q75), direct SNN training (BPTT through the fused neuron kernel), seed 0")
print()
print("| arch | surrogate | T | epochs | train / test images | test accuracy | train s | peak MiB | Dspike b per epoch |")
print("|---|---|---|---|---|---|---|---|---|")
for t in ts:
    for name in runs:
        try:
            r = json.load(open(f"{out}/{name}-T{t}.json"))
        except FileNotFoundError:
            print(f"| - | {name} | {t} | - | - | not run | - | - | - |")
            continue
        b = ", ".join(f"{e['dspike']['b']:g}" for e in r["history"] if "dspike" in e) or "-"
        n = f"{r.get('train_samples', '?')} / {r.get('test_samples', '?')}"
        print(f"| {r['arch']} | {name} | {r['T']} | {r['epochs']} | {n} | {r['test_accuracy']:.2f} % | "
              f"{r['train_seconds']:.0f} | {r['peak_rss_mib']:.0f} | {b} |")
PY
