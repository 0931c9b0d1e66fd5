#!/usr/bin/env bash
# A controlled comparison of surrogate gradients for direct SNN training on Fashion-MNIST: the same net,
# seed, epochs and optimizer for rectangle / triangle / exponential / sigmoid / atan / Dspike with a fixed b /
# Dspike with b adapted each epoch (FDG cosine). Prints a Markdown table; JSONs go to $OUT. A finished run is
# skipped (its JSON exists; one of another epoch count stops the script) and an interrupted one resumes from
# its checkpoint, so the script can be stopped and run again to continue.
# usage: scripts/snn_surrogate_table.sh [BUILD_DIR]
#   env: EPOCHS (2), T (4), ARCH (cnn), LIMIT (0 = all 60,000 training images), OUT (runs/snn_surrogates),
#        OPT ("--optimizer adam --lr 0.001 --weight-decay 0"), THREADS (2)
set -euo pipefail
build=${1:-build}
epochs=${EPOCHS:-2}
T=${T:-4}
arch=${ARCH:-cnn}
limit=${LIMIT:-0}
out=${OUT:-runs/snn_surrogates}
threads=${THREADS:-2}
read -r -a opt <<< "${OPT:---optimizer adam --lr 0.001 --weight-decay 0}"
mkdir -p "$out"
snn="$build/snnkit"
source "$(dirname "${BASH_SOURCE[0]}")/result_done.sh"

runs=(rect triangle exp sigmoid atan dspike dspike-adapt)
for name in "${runs[@]}"; do
  if result_done "$out/$name.json" "$epochs"; then
    echo "== $name: done already ($out/$name.json)"
    continue
  fi
  case $name in
    dspike-adapt) sg=(--surrogate dspike --dspike-adapt --b0 3 --db 0.5) ;;
    *) sg=(--surrogate "$name") ;;
  esac
  resume=()
  [ -f "$out/$name/checkpoint.safetensors" ] && resume=(--resume)
  echo "== $name${resume:+ (resuming)}"
  "$snn" train-snn --dataset fmnist --arch "$arch" --T "$T" --epochs "$epochs" --seed 0 "${opt[@]}" \
    --limit-train "$limit" --threads "$threads" "${sg[@]}" --out "$out/$name" --json "$out/$name.json" \
    "${resume[@]}" 2> >(stdbuf -oL tr '\r' '\n' | grep --line-buffered -v "ETA" >&2)
done

/usr/bin/env python3 - "$out" "$limit" "${runs[@]}" <<'PY'
import json, sys
out, limit, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
r0 = json.load(open(f"{out}/{runs[0]}.json"))
print()
images = f"the first {limit:,} training images" if limit > 0 else "all 60,000 training images"
print(f"Fashion-MNIST ({images}, 10,000 test images), zoo {r0['arch']}, T = {r0['T']}, {r0['epochs']} epochs, seed 0, "
      f"LIF alpha {r0['neuron']['alpha']}, {r0['neuron']['reset']} reset")
print()
print("| surrogate | parameter | test accuracy | train s | Dspike b per epoch (cosines of b-db / b / b+db) |")
print("|---|---|---|---|---|")
for name in runs:
    r = json.load(open(f"{out}/{name}.json"))
    n = r["neuron"]
    b = "; ".join(f"{e['dspike']['b']:.2f} ({', '.join(f'{c:.3f}' for c in e['dspike']['cosine'])})"
                  for e in r["history"] if "dspike" in e) or "-"
    param = f"{n['surrogate_param']:g}" + (" (adaptive)" if n["dspike_adapt"] else "")
    print(f"| {name} | {param} | {r['test_accuracy']:.2f} % | {r['train_seconds']:.0f} | {b} |")
PY
