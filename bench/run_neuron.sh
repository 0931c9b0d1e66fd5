#!/usr/bin/env bash
# bench/run_neuron.sh: the neuron engine benchmark, every contender under equal conditions, in one run.
#
# Usage: bash bench/run_neuron.sh <build-dir> [--reps R] [--warmup W] [--rounds N] [--json FILE] [--save]
#   defaults: 9 timed runs after 3 warm-up runs, 3 rounds; THREADS (env) 2.
#   --json FILE  also write the figures and their provenance as JSON (atomically)
#   --save       write docs/results/bench/<UTC date>_run_neuron.txt (this output) and .json
# Needs <build-dir>/bench_neuron, /usr/bin/python3 with torch, and for the toolkits bench/.pydeps
# (scripts/setup.sh --bench).
#
# The contenders, LIF alpha 0.5, soft reset, atan, forward + backward on the same synthetic data: snnkit's
# fused kernel and its per-step ATen reference (bench_neuron), the Python loops (py/neuron_loops.py: the x[t]
# loop the peers' torch backends run, two unbind loops), SpikingJelly's LIFNode and snnTorch's Leaky
# (py/neuron_toolkits.py). Equal conditions: each program is a process of its own started here with the same
# environment (GLIBC_TUNABLES = the malloc settings snnkit::runtime_init applies, bench_neuron told not to
# apply them itself so that every process takes them from the same place), THREADS threads, W warm-up and R
# timed runs of every contender; the programs alternate for N rounds, so that a change of machine load hits
# all alike. Beside that, labelled, the Python contenders once more with glibc's default malloc (what a
# Python user gets by default). The summary (py/neuron_summary.py) comes first, the raw rounds after it.
set -euo pipefail
usage="usage: bash bench/run_neuron.sh <build-dir> [--reps R] [--warmup W] [--rounds N] [--json FILE] [--save]"
command_line="bash bench/run_neuron.sh $*"
build=${1:?$usage}
shift
reps=9 warmup=3 rounds=3 json= save=0
while [ $# -gt 0 ]; do
  case $1 in
    --reps) reps=${2:?$usage}; shift 2 ;;
    --warmup) warmup=${2:?$usage}; shift 2 ;;
    --rounds) rounds=${2:?$usage}; shift 2 ;;
    --json) json=${2:?$usage}; shift 2 ;;
    --save) save=1; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
threads=${THREADS:-2}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[ -x "$build/bench_neuron" ] || { echo "run_neuron.sh: $build/bench_neuron not found (build the bench target)" >&2; exit 2; }
if [ $save = 1 ]; then
  stem="$root/docs/results/bench/$(date -u +%F)_run_neuron"
  json=${json:-$stem.json}
fi
raw=$(mktemp) out=$(mktemp)
trap 'rm -f "$raw" "$out"' EXIT

# The same allocator settings for every process: these are snnkit::runtime_init's mallopt values
# (src/snnkit/core/runtime.cpp: M_MMAP_MAX 0, M_TRIM_THRESHOLD 1 GiB, M_TOP_PAD 64 MiB).
tuned=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864
pypath="$here/.pydeps:$here/py${PYTHONPATH:+:$PYTHONPATH}"
common=(--threads "$threads" --reps "$reps" --warmup "$warmup")
# run <label> <malloc: tuned|default> <program...>: one contender process, its output into the raw log
run() {
  local label=$1 malloc=$2
  shift 2
  echo "  $label" >&2
  echo "== round $round/$rounds: $label" >> "$raw"
  if [ "$malloc" = tuned ]; then
    env GLIBC_TUNABLES=$tuned PYTHONPATH="$pypath" "$@" >> "$raw" 2>&1 || echo "(failed: $label)" | tee -a "$raw" >&2
  else  # glibc's defaults; keys renamed def_* for the summary
    env -u GLIBC_TUNABLES PYTHONPATH="$pypath" "$@" 2>&1 | sed -E 's/^(RESULT|TIMES) /\1 def_/' >> "$raw" ||
      echo "(failed: $label)" | tee -a "$raw" >&2
  fi
}

dirty=false  # of the code that runs, so taken before the rounds
[ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty=true
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
date_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for round in $(seq 1 "$rounds"); do
  echo "round $round/$rounds:" >&2
  run "bench_neuron (snnkit fused kernel, ATen reference), malloc as GLIBC_TUNABLES" tuned \
    "$build/bench_neuron" --default-malloc "${common[@]}"
  run "Python loops, malloc as GLIBC_TUNABLES" tuned /usr/bin/python3 "$here/py/neuron_loops.py" "${common[@]}"
  run "SpikingJelly, snnTorch, malloc as GLIBC_TUNABLES" tuned /usr/bin/python3 "$here/py/neuron_toolkits.py" "${common[@]}"
  run "Python loops, glibc malloc defaults" default /usr/bin/python3 "$here/py/neuron_loops.py" "${common[@]}"
  run "SpikingJelly, snnTorch, glibc malloc defaults" default /usr/bin/python3 "$here/py/neuron_toolkits.py" "${common[@]}"
done

summary=ok
{
  LOAD_BEFORE=$load_before LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg) BENCH_TUNED=$tuned \
  BENCH_REPS=$reps BENCH_WARMUP=$warmup BENCH_ROUNDS=$rounds PROV_THREADS=$threads PROV_DATE=$date_iso \
  PROV_COMMAND=$command_line PROV_DIRTY=$dirty \
  PROV_VERSION=$(sed -nE 's/^project\(snnkit VERSION ([0-9.]+).*/\1/p' "$root/CMakeLists.txt") \
  PROV_COMMIT=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown) \
  PROV_BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || echo unknown) \
    /usr/bin/python3 "$here/py/neuron_summary.py" "$raw" ${json:+--json "$json"} || summary=failed
  echo
  echo "== raw output of the rounds (each line 'TIMES <key> <shape> <ms>...' lists every timed run) =="
  cat "$raw"
} > "$out"
cat "$out"
if [ $save = 1 ]; then
  cp "$out" "$stem.txt.tmp" && mv "$stem.txt.tmp" "$stem.txt"
  echo "wrote $stem.txt and $json" >&2
elif [ -n "$json" ]; then
  echo "wrote $json" >&2
fi
[ $summary = ok ] || { echo "run_neuron.sh: the summary failed (see above)" >&2; exit 1; }
