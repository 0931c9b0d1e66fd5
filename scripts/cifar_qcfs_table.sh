#!/usr/bin/env bash
# Issue #27's CIFAR-10 (JPEG q75) QCFS targets: a zoo net trained conversion-aware (train-ann --act qcfs
# --levels L, otherwise the recipe of the ReLU table: scripts/cifar_conversion_table.sh's defaults, seed 0),
# converted (V_th = lambda, v(0) = V_th/2, soft reset) without calibration and with light and advanced
# calibration at each T, every SNN evaluated on the test images; then the gap to its own ANN per T, the
# comparison with the ReLU ANN + advanced row of docs/results/cifar10_<arch>/ on the same test images, the JSONs
# copied to docs/results/cifar10_qcfs_<arch>/data/, and a `snnkit report` page whose accuracy-against-latency
# chart holds the ReLU rows and the QCFS rows.
# Resumable as cifar_conversion_table.sh (stop it, run it again): training resumes from its checkpoint, finished
# conversions and evaluations are skipped.
#
# usage: scripts/cifar_qcfs_table.sh [BUILD_DIR]
#   env: ARCH (resnet20-he | vgg16; default resnet20-he), EPOCHS (default: the ReLU table's, 25 for resnet20-he,
#        2 for vgg16), LEVELS (4), TS ("1 2 4 8 16 32"), METHODS ("none light advanced"),
#        LIMIT (test images per evaluation, class-balanced; 0 = all 10,000), THREADS (2),
#        WORK (runs/cifar_qcfs_$ARCH), DOCS (docs/results/cifar10_qcfs_<arch without '-'>)
set -euo pipefail
build=${1:-build}
arch=${ARCH:-resnet20-he}
case $arch in
  resnet20-he) relu_docs=docs/results/cifar10_resnet20he; default_epochs=25 ;;
  vgg16) relu_docs=docs/results/cifar10_vgg16; default_epochs=2 ;;
  *) echo "cifar_qcfs_table: ARCH '$arch' has no ReLU table to compare with (resnet20-he, vgg16)" >&2; exit 2 ;;
esac
epochs=${EPOCHS:-$default_epochs}
levels=${LEVELS:-4}
ts=${TS:-1 2 4 8 16 32}
work=${WORK:-runs/cifar_qcfs_$arch}
docs=${DOCS:-docs/results/cifar10_qcfs_${arch//-/}}
limit=${LIMIT:-0}
here=$(dirname "${BASH_SOURCE[0]}")

ARCH=$arch EPOCHS=$epochs THREADS=${THREADS:-2} OUT=$work TS="$ts" METHODS="${METHODS:-none light advanced}" \
  LIMIT=$limit TRAIN_FLAGS="--act qcfs --levels $levels" bash "$here/cifar_conversion_table.sh" "$build"

# The ReLU table's test images (its LIMIT) for the like-for-like comparison at T = 4 with advanced calibration.
relu_limit=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["samples"])' \
  "$relu_docs/data/all/advanced-T4.eval.json")
same=$work/snn/advanced-T4.eval-relu-images.json
if [ "$relu_limit" -lt 10000 ] && [ ! -s "$same" ]; then
  "$build/snnkit" eval --model "$work/snn/advanced-T4" --data "${DATA:-runs/cifar10-jpeg}" --T 4 --limit "$relu_limit" \
    --threads "${THREADS:-2}" --quiet --json "$same" > /dev/null
fi

mkdir -p "$docs/data"
cp "$work/ann.json" "$docs/data/train-ann.json"
for f in "$work"/snn/*.json; do cp "$f" "$docs/data/"; done

/usr/bin/python3 - "$docs" "$relu_docs" "$ts" <<'PY' | tee "$docs/table.md"
import glob, json, os, sys
docs, relu_docs, ts = sys.argv[1], sys.argv[2], [int(t) for t in sys.argv[3].split()]
ann = json.load(open(f"{docs}/data/train-ann.json"))
relu_ann = json.load(open(f"{relu_docs}/data/train-ann.json"))
q = ann["qcfs"]
def ev(m, T):
    p = f"{docs}/data/{m}-T{T}.eval.json"
    return json.load(open(p)) if os.path.exists(p) else None
tmax = max(ts)
print(f"CIFAR-10 (JPEG q75), zoo {ann['arch']} trained with QCFS (L = {q['levels']}), {ann['epochs']} epochs, "
      f"{ann['train_seconds']:.0f} s: ANN test accuracy {ann['test_accuracy']:.2f} % (the ReLU ANN of "
      f"{relu_docs}: {relu_ann['test_accuracy']:.2f} % after {relu_ann['epochs']} epochs, a difference of "
      f"{ann['test_accuracy'] - relu_ann['test_accuracy']:+.2f} points).")
print()
print("SNN accuracy % at T (gap to its own ANN on the same images, in points):")
print()
print("| method | " + " | ".join(f"T = {t}" for t in ts) + " | ANN, same images | test images |")
print("|---|" + "---|" * len(ts) + "---|---|")
gaps = {}
for m in ("none", "light", "advanced"):
    cells, n, a = [], "", ""
    for t in ts:
        e = ev(m, tmax if m == "none" else t)
        if e is None:
            cells.append("-")
            continue
        acc = e["accuracy_per_t"][t - 1]
        gaps[(m, t)] = acc - e["ann_accuracy"]
        cells.append(f"{acc:.2f} ({acc - e['ann_accuracy']:+.2f})")
        n, a = e["samples"], f"{e['ann_accuracy']:.2f}"
    print(f"| {m} | " + " | ".join(cells) + f" | {a} | {n} |")
print()
targets = {4: 3.0, 8: 1.0, 16: 0.2} if ann["arch"] != "vgg16" else {4: 1.5, 8: 0.5}
for t, lim in targets.items():
    done = [(m, g) for (m, tt), g in gaps.items() if tt == t]
    if not done:
        print(f"- T = {t}: not run")
        continue
    m, g = max(done, key=lambda x: x[1])
    verdict = "ok" if -g <= lim else f"MISSED: {-g:.2f} > {lim}"
    print(f"- T = {t}: smallest gap {-g:.2f} points ({m}); target <= {lim}: [{verdict}]")
same = f"{docs}/data/advanced-T4.eval-relu-images.json"
relu = json.load(open(f"{relu_docs}/data/all/advanced-T4.eval.json"))
mine = json.load(open(same)) if os.path.exists(same) else ev("advanced", 4)
if mine:
    d = mine["accuracy_per_t"][3] - relu["accuracy_per_t"][3]
    verdict = "ok" if d >= 15 else f"MISSED: {d:.2f} < 15"
    print(f"- T = 4, advanced calibration, the ReLU table's {relu['samples']} test images: QCFS "
          f"{mine['accuracy_per_t'][3]:.2f} % ({mine['samples']} images) against ReLU {relu['accuracy_per_t'][3]:.2f} %: "
          f"{d:+.2f} points; target >= +15: [{verdict}]")
PY

relu_evals=$(ls "$relu_docs"/data/all/{light,advanced}-T*.eval.json 2>/dev/null || true)
# shellcheck disable=SC2086
"$build/snnkit" report "$docs/data/train-ann.json" "$docs"/data/{none,light,advanced}-T*.eval.json $relu_evals \
  --out "$docs" --title "CIFAR-10 (JPEG q75): $arch trained with QCFS (L = $levels) -> SNN, beside the ReLU ANN's conversions" \
  > /dev/null
echo "report: $docs/index.md"
