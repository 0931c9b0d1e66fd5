#!/usr/bin/env bash
# bench/run_python_sj_convnet.sh: a whole training step of a SpikingJelly conv net (conv-BN-LIF blocks, T = 4,
# batch 64, 3x32x32, multi-step, torch backend) against the same net with its LIF nodes swapped for snnkit.LIF
# (bench/py/sj_convnet_step.py), after checking that both give the same loss for the first 20 steps.
#
# Usage: bash bench/run_python_sj_convnet.sh <build-dir> [threads] [reps] [rounds]
#        (needs <build-dir>/python/snnkit, /usr/bin/python3 with torch, SpikingJelly in bench/.pydeps:
#        scripts/setup.sh --bench). Both contenders run in one process, alternating, with the same threads,
#        warm-ups, timed steps and glibc malloc settings (snnkit::runtime_init's tuning, as the other benches).
set -euo pipefail
build=$(cd "${1:?usage: bash bench/run_python_sj_convnet.sh <build-dir> [threads] [reps] [rounds]}" && pwd)
threads=${2:-2}
reps=${3:-5}
rounds=${4:-3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864
export OMP_NUM_THREADS=$threads
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
PYTHONPATH="$build/python:$here/.pydeps${PYTHONPATH:+:$PYTHONPATH}" /usr/bin/python3 -W ignore \
  "$here/py/sj_convnet_step.py" --threads "$threads" --reps "$reps" --rounds "$rounds" --warmup 2
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
