#!/usr/bin/env bash
# bench/run_sparse.sh: issue #29 item 3 in one command. (1) bench_sparse: per conv / linear layer shape of the zoo
# cnn, resnet20-he and vgg16, the spike rate below which the event-driven (scatter) layer beats the dense oneDNN
# kernel; (2) bench_snn_infer: end-to-end images/s of the converted networks at T = 4, 8, 32, the executor with
# and without sparse layers against the per-time-step loop. Prints the load before and after (timings on a busy
# machine are noisy; the ratios within one run are what to compare). With --save, also writes the output to
# docs/results/bench/<date>_run_sparse.txt.
# usage: bash bench/run_sparse.sh BUILD_DIR [--save]     env: THREADS (default 2), REPS (default 7), WARMUP (1),
#        RATES (default 0.001,0.005,0.01,0.02,0.05,0.1,0.2), BATCH (bench_sparse's T x N, default 64)
set -euo pipefail
build=${1:?usage: bash bench/run_sparse.sh BUILD_DIR [--save]}
save=${2:-}
threads=${THREADS:-2}
reps=${REPS:-7}
warmup=${WARMUP:-1}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run() {
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; $(date -u +%FT%TZ); commit $(git -C "$here" rev-parse --short HEAD)"
  "$build/bench_sparse" --threads "$threads" --reps "$reps" --warmup "$warmup" --batch "${BATCH:-64}" \
    --rates "${RATES:-0.001,0.005,0.01,0.02,0.05,0.1,0.2}"
  echo "load average after bench_sparse: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  "$build/bench_snn_infer" --arch cnn,resnet20-he,vgg16 --T 4,8,32 --batch 16 --threads "$threads" \
    --reps "$(( reps < 3 ? reps : 3 ))" --warmup "$warmup" --sparse on
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
if [ "$save" = "--save" ]; then
  mkdir -p "$here/docs/results/bench"
  dest="$here/docs/results/bench/$(date -u +%F)_run_sparse${THREADS:+_t$THREADS}.txt"
  run | tee "$dest.tmp"
  mv "$dest.tmp" "$dest"
  echo "saved: $dest"
else
  run
fi
