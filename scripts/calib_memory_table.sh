#!/usr/bin/env bash
# scripts/calib_memory_table.sh: peak resident memory of `snnkit convert --calib advanced` on the zoo cnn
# (Fashion-MNIST) against the number of calibration images and T (issue #29's table), REPEATS processes per
# cell, each measured by /usr/bin/time -v (the kernel's maximum RSS of the process); the table shows their median
# [min, max] (with 2 threads a single process varies by up to 0.2 GB: the allocator's per-thread arenas). Writes
# docs/results/<date>_calib_memory.{json,md} (with provenance: commit, command lines, load) and a chart
# <date>_calib_memory.png (gnuplot, when installed). The issue's all-at-once numbers are added as rows
# labelled "before (from the issue)".
# usage: bash scripts/calib_memory_table.sh [BUILD_DIR]
#   env: MODEL  an ANN model directory to reuse (default: train one, zoo cnn, EPOCHS epochs, into OUT/ann)
#        EPOCHS (default 5), OUT (default runs/calib_memory), SAMPLES (default "256 1024 4096"),
#        TS (default "8 32 64"), BUDGET (MiB, default 1024), THREADS (default 2), DEST (default docs/results),
#        MODEL_NOTE (a line on where MODEL comes from, for the table), REPEATS (processes per cell, default 3)
set -euo pipefail
build=${1:-build}
out=${OUT:-runs/calib_memory}
samples=${SAMPLES:-256 1024 4096}
ts=${TS:-8 32 64}
budget=${BUDGET:-1024}
threads=${THREADS:-2}
repeats=${REPEATS:-3}
dest=${DEST:-docs/results}
date=$(date -u +%F)
snn="$build/snnkit"
[ -x /usr/bin/time ] || { echo "calib_memory_table: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
mkdir -p "$out" "$dest"
model=${MODEL:-}
if [ -z "$model" ]; then
  model="$out/ann"
  resume=()
  [ -f "$model/checkpoint.safetensors" ] && resume=(--resume)
  "$snn" train-ann --dataset fmnist --arch cnn --epochs "${EPOCHS:-5}" --lr 0.05 --seed 0 --threads "$threads" \
    --out "$model" --json "$out/ann.json" "${resume[@]}"
fi
# Writes the table, JSON and chart from the rows so far (called after every cell, so that a partial run leaves
# its measured cells).
summarise() {
  local T i b nT plot
  /usr/bin/python3 - "$rows" "$dest/${date}_calib_memory" "$model" "$budget" "$threads" "${MODEL_NOTE:-}" <<'PY'
import json, os, subprocess, sys
rows_file, base, model, budget, threads, model_note = sys.argv[1:]
rows = [json.loads(l) for l in open(rows_file)]
# The issue's numbers (zoo cnn, 5 epochs, --calib advanced, all calibration images at once), as it gives them.
before = [{"label": "before (from the issue)", "T": 32, "calib_images": 1024, "peak_rss_kib": int(2.16e6),
           "note": "2.16 GB, the issue's text"},
          {"label": "before (from the issue)", "T": 32, "calib_images": 4096, "peak_rss_kib": int(4.24e6),
           "note": "4.24 GB, the issue's text"},
          {"label": "before (measured 2026-12-06 on the same 2-epoch model runs/mem/ann, README)", "T": 32,
           "calib_images": 1024, "peak_rss_kib": 2190000, "note": "all-at-once calibration before streaming"}]
# The issue's "GB" are read as 10^6 KiB (what /usr/bin/time -v prints divided by 10^6).
commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                            text=True).stdout.strip())
doc = {"what": "peak resident memory of snnkit convert --calib advanced, zoo cnn on Fashion-MNIST",
       "model": model, "model_note": model_note, "memory_budget_mib": int(budget), "threads": int(threads),
       "script": "scripts/calib_memory_table.sh", "git_commit": commit, "git_dirty": dirty,
       "rows": before + rows}
tmp = base + ".json.tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=1)
os.replace(tmp, base + ".json")
Ts = sorted({r["T"] for r in rows})
ns = sorted({r["calib_images"] for r in rows})
cell = {(r["T"], r["calib_images"]): r for r in rows}
gib = lambda kib: f"{kib / 2**20:.2f}"
lines = [f"# Peak memory of `snnkit convert --calib advanced` (zoo cnn, Fashion-MNIST)", "",
         f"`bash scripts/calib_memory_table.sh` (model `{model}`, `--memory-budget {budget}`, {threads} "
         f"thread{'' if threads == '1' else 's'}), table written at commit {commit[:10]}{' (dirty)' if dirty else ''} "
         "(each cell's JSON row has its own provenance). Peak resident set size (GiB, /usr/bin/time -v) "
         "of the whole convert process, median of the cell's processes with [min, max] when there are several; "
         "calibration seconds and the chunk (images per streamed chunk) in brackets.",
         "", "| T | " + " | ".join(f"{n} images" for n in ns) + " |", "|---|" + "---|" * len(ns)]
def peaks(r):  # "median [min, max]" of the cell's processes
    p = r.get("peak_rss_kib_runs", [r["peak_rss_kib"]])
    return gib(r["peak_rss_kib"]) + (f" [{gib(min(p))}, {gib(max(p))}]" if len(p) > 1 else "")  # upper middle if even
for T in Ts:
    lines.append(f"| {T} | " + " | ".join(
        f"{peaks(cell[T, n])} ({cell[T, n]['calibration_seconds']:.0f} s, chunk {cell[T, n]['chunk_images']})"
        if (T, n) in cell else "-" for n in ns) + " |")
if model_note:
    lines += ["", "Model: " + model_note]
lines += ["", "Before streaming, all calibration images at once, T = 32 (GiB): "
          "from the issue (zoo cnn, 5 epochs; its GB read as 10^6 KiB): 2.06 at 1,024 images, 4.04 at 4,096; "
          "measured 2026-12-06 on the 2-epoch model of the README's streaming note: 2.09 at 1,024.", ""]
lines.append("Load average (1 min) before -> after each cell: " + "; ".join(
    f"T={r['T']} n={r['calib_images']}: {r['load'][0]} -> {r['load'][1]}" for r in rows) + ".")
with open(base + ".md.tmp", "w") as f:
    f.write("\n".join(lines) + "\n")
os.replace(base + ".md.tmp", base + ".md")
print("\n".join(lines))
# Chart data: one line per T (streamed) and the issue's points.
with open(base + ".dat", "w") as f:
    for T in Ts:
        f.write(f"# T={T}\n")
        for n in ns:
            if (T, n) in cell:
                f.write(f"{n} {cell[T, n]['peak_rss_kib'] / 2**20:.4f}\n")
        f.write("\n\n")
    f.write("# before\n")
    for b in before[:2]:
        f.write(f"{b['calib_images']} {b['peak_rss_kib'] / 2**20:.4f}\n")
PY
  if command -v gnuplot >/dev/null; then
    b="$dest/${date}_calib_memory"
    nT=$(echo $ts | wc -w)
    plot=""
    i=0
    for T in $ts; do
      plot+="'$b.dat' index $i using 1:2 with linespoints lw 2 title 'streamed, T = $T', "
      i=$((i + 1))
    done
    plot+="'$b.dat' index $nT using 1:2 with points pt 7 ps 1.5 title 'before (from the issue), T = 32'"
    gnuplot -e "set terminal pngcairo size 800,500; set output '$b.png.tmp'; set logscale x 2; \
  set xlabel 'calibration images'; set ylabel 'peak RSS (GiB)'; set yrange [0:*]; set key top left; \
  set title 'snnkit convert --calib advanced, zoo cnn: peak memory'; plot $plot"
    mv "$b.png.tmp" "$b.png"
    echo "chart: $b.png"
  fi
}
rows="$out/rows.jsonl"
: >"$rows"
for T in $ts; do
  for n in $samples; do
    cell="$out/adv_T${T}_n${n}"
    cmd=("$snn" convert --model "$model" --T "$T" --out "$cell" --calib advanced --calib-samples "$n"
      --memory-budget "$budget" --threads "$threads" --quiet --json "$cell.json")
    kibs=""
    for k in $(seq "$repeats"); do
      if [ -s "$cell.$k.time" ] && [ -s "$cell.json" ] && [ -s "$cell.$k.load" ]; then
        echo "T = $T, $n images, process $k: measured before, reusing $cell.$k.time (delete it to measure again)"
      else
        load0=$(cut -d' ' -f1 /proc/loadavg)
        /usr/bin/time -v -o "$cell.$k.time" "${cmd[@]}"
        echo "$load0 $(cut -d' ' -f1 /proc/loadavg)" >"$cell.$k.load"
      fi
      read -r l0 l1 <"$cell.$k.load"
      [ "$k" = 1 ] && load0=$l0
      load1=$l1
      kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$cell.$k.time")
      wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$cell.$k.time")
      echo "T = $T, $n images, process $k: peak RSS $kib KiB, wall $wall (load $l0 -> $l1)"
      kibs+="$kib,"
    done
    kib=${kibs%,}
    /usr/bin/python3 - "$cell.json" "$T" "$n" "$kib" "$wall" "$load0" "$load1" "${cmd[*]}" >>"$rows" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
c = j["conversion"]
runs = sorted(int(v) for v in sys.argv[4].split(","))
print(json.dumps({"label": "streamed", "T": int(sys.argv[2]), "calib_images": int(sys.argv[3]),
                  "peak_rss_kib": runs[len(runs) // 2], "peak_rss_kib_runs": runs, "wall": sys.argv[5], "load": [sys.argv[6], sys.argv[7]],
                  "calibration_seconds": j.get("calibration_seconds"), "chunk_images": c.get("calib_chunk_images"),
                  "wc_images": c.get("wc_images"), "memory_budget_mib": c.get("memory_budget_mib"),
                  "command": sys.argv[8], "provenance": j.get("provenance")}))
PY
    summarise >"$out/summary.txt"
  done
done
cat "$out/summary.txt"
