#!/usr/bin/env bash
# The CIFAR-10 (JPEG q75) conversion table of issue #4: train an ANN from the zoo, convert it with
# none / bias shift / light / advanced calibration at each T, evaluate on the test split, print a Markdown
# table (accuracy at T = 4 .. 64 beside the ANN's). Every step writes its JSON under $OUT and is skipped when
# that JSON exists, and ANN training resumes from its checkpoint, so the script can be stopped (Ctrl-C, or
# the end of a session) and run again to continue where it was.
#
# usage: scripts/cifar_conversion_table.sh [BUILD_DIR]
#   env: ARCH (resnet20-he | vgg16 | resnet20; default resnet20-he), EPOCHS (ANN epochs, 200),
#        DATA (CIFAR-10 ImageFolder tree; default runs/cifar10-jpeg, extracted from
#        ../shared/datasets/cifar10-jpeg.tar.gz when missing), OUT (runs/cifar_$ARCH),
#        TS ("4 8 16 32 64"), METHODS ("none bias-shift light advanced"),
#        LIMIT (test images per evaluation, class-balanced; 0 = all 10,000), THREADS (0 = all cores),
#        TRAIN_FLAGS (extra train-ann flags, e.g. "--limit-train 2000 --limit-test 500" for a smoke run),
#        EVAL_BATCH (images per simulated batch in eval; default: eval's own),
#        CALIB_SAMPLES (calibration images of light / advanced; default: convert's own, 1024),
#        TABLE_ONLY (1: run nothing, only print the table of what is done, "-" for the rest)
#   Methods: none = threshold balancing (max activation), IF soft reset; bias-shift = + V_th/(2T) on every
#   spiking layer's bias; light = half step v(0) = V_th/2 + threshold search + bias correction; advanced = half
#   step + threshold search + weight calibration + potential correction (all at the defaults of `snnkit convert
#   --help`; before the presets took the half step, in issue #27, light / advanced ran without it).
#   "none" does not depend on T, so it is converted once and one simulation of max(TS) steps gives all T.
set -euo pipefail
build=${1:-build}
arch=${ARCH:-resnet20-he}
epochs=${EPOCHS:-200}
data=${DATA:-runs/cifar10-jpeg}
out=${OUT:-runs/cifar_$arch}
read -r -a ts <<< "${TS:-4 8 16 32 64}"
read -r -a methods <<< "${METHODS:-none bias-shift light advanced}"
limit=${LIMIT:-0}
threads=${THREADS:-0}
read -r -a train_flags <<< "${TRAIN_FLAGS:-}"
snn="$build/snnkit"
source "$(dirname "${BASH_SOURCE[0]}")/cifar_data.sh"
source "$(dirname "${BASH_SOURCE[0]}")/result_done.sh"
tmax=0
for t in "${ts[@]}"; do [ "$t" -gt "$tmax" ] && tmax=$t; done
mkdir -p "$out/snn"
log() { echo "[$(date +%H:%M:%S)] $*"; }

if [ "${TABLE_ONLY:-0}" != 1 ]; then # steps 1 and 2 (not indented: they hold a here-document)
cifar_data_ready "$data"

# 1. The ANN (resumable).
if ! result_done "$out/ann.json" "$epochs"; then
  resume=()
  [ -f "$out/ann/checkpoint.safetensors" ] && resume=(--resume) && log "resuming ANN training from $out/ann"
  log "training $arch for $epochs epochs"
  "$snn" train-ann --dataset cifar10 --data "$data" --arch "$arch" --epochs "$epochs" --seed 0 \
    --threads "$threads" --out "$out/ann" --json "$out/ann.json" "${train_flags[@]}" "${resume[@]}"
fi

# 2. Conversions and evaluations.
eval_limit=()
[ "$limit" -gt 0 ] && eval_limit=(--limit "$limit")
[ -n "${EVAL_BATCH:-}" ] && eval_limit+=(--batch-size "$EVAL_BATCH")
# An evaluation JSON counts only when it covers the images asked for (LIMIT, or all 10,000 test images):
# a rerun with another LIMIT evaluates again instead of printing the old numbers.
eval_done() {
  [ -s "$1" ] && /usr/bin/env python3 - "$1" "$limit" <<'PY'
import json, sys
n, limit = json.load(open(sys.argv[1])).get("samples", 0), int(sys.argv[2])
sys.exit(0 if (n == min(limit, 10000) if limit > 0 else n >= 10000) else 1)
PY
}
for m in "${methods[@]}"; do
  case $m in
    none) flags=() ;;
    bias-shift) flags=(--bias-shift) ;;
    light) flags=(--calib light) ;;
    advanced) flags=(--calib advanced) ;;
    *) echo "cifar_conversion_table: unknown method '$m'" >&2; exit 2 ;;
  esac
  case $m in light | advanced) [ -n "${CALIB_SAMPLES:-}" ] && flags+=(--calib-samples "$CALIB_SAMPLES") ;; esac
  steps=("${ts[@]}")
  [ "$m" = none ] && steps=("$tmax")
  for t in "${steps[@]}"; do
    dir=$out/snn/$m-T$t
    if ! eval_done "$dir.eval.json"; then
      if [ ! -s "$dir.convert.json" ] || [ ! -s "$dir/model.json" ]; then  # the JSON alone is not proof
        log "convert $m T=$t"
        rm -rf "$dir"
        "$snn" convert --model "$out/ann" --data "$data" --T "$t" "${flags[@]}" --threads "$threads" --quiet \
          --out "$dir" --json "$dir.convert.json"
      fi
      log "eval $m T=$t"
      "$snn" eval --model "$dir" --data "$data" --T "$t" "${eval_limit[@]}" --threads "$threads" --quiet \
        --json "$dir.eval.json" > /dev/null
    fi
  done
done
fi # TABLE_ONLY

# 3. The table.
/usr/bin/env python3 - "$out" "$tmax" "${ts[*]}" "${methods[@]}" <<'PY'
import json, sys
out, tmax, ts, methods = sys.argv[1], int(sys.argv[2]), [int(t) for t in sys.argv[3].split()], sys.argv[4:]
ann = json.load(open(f"{out}/ann.json"))
print()
print(f"CIFAR-10 (JPEG q75), zoo {ann['arch']}, ANN trained {ann['epochs']} epochs: "
      f"ANN test accuracy {ann['test_accuracy']:.2f} %")
print()
print("| method | " + " | ".join(f"T = {t}" for t in ts) + " | ANN, same images | test images | calibration s (at T = " + str(tmax) + ") |")
print("|---|" + "---|" * len(ts) + "---|---|---|")
for m in methods:
    cells, n, secs, a = [], "", "", ""
    for t in ts:
        T = tmax if m == "none" else t
        try:
            e = json.load(open(f"{out}/snn/{m}-T{T}.eval.json"))
        except FileNotFoundError:
            cells.append("-")
            continue
        cells.append(f"{e['accuracy_per_t'][t - 1]:.2f}")
        n = e.get("samples", n)
        a = f"{e['ann_accuracy']:.2f}" if "ann_accuracy" in e else a
        if T == tmax:
            c = json.load(open(f"{out}/snn/{m}-T{T}.convert.json"))
            secs = f"{c.get('calibration_seconds', 0):.0f}"
    print(f"| {m} | " + " | ".join(cells) + f" | {a} | {n} | {secs} |")
PY
