#!/usr/bin/env bash
# bench/run_snn_memory.sh: how the memory of one SNN training step (BPTT) grows with T, snnkit against the same
# network and step written with SpikingJelly (bench/py/snn_step_spikingjelly.py; needs scripts/setup.sh --bench).
# Each figure comes from a fresh process: the peak resident memory over `steps` training steps above what the
# process held just before them (bench_snn_step --memory 1; the Python script's --memory), both with the
# glibc malloc tuning of snnkit::runtime_init, given to both processes as the same GLIBC_TUNABLES, and the same
# number of steps. Memory does not depend on machine load, so one round suffices.
# usage: bash bench/run_snn_memory.sh BUILD_DIR [steps]
#   env: TS ("1 2 4 8 16": the zoo cnn, batch 128, both toolkits), RESNET_TS ("1 2 4": the He ResNet-20 on
#        CIFAR-sized input, snnkit only), THREADS (2)
set -euo pipefail
build=${1:?usage: bash bench/run_snn_memory.sh BUILD_DIR [steps]}
steps=${2:-3}
threads=${THREADS:-2}
read -r -a ts <<< "${TS:-1 2 4 8 16}"
read -r -a rts <<< "${RESNET_TS:-1 2 4}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tuned=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864
value() { awk -v k="$1" '$1 == "RESULT" && $2 == k { print $4 }'; }

echo "zoo cnn (Fashion-MNIST-sized input), batch 128, LIF alpha 0.5, hard reset, atan; peak MiB above the baseline"
echo "| T | snnkit MiB | SpikingJelly MiB | SpikingJelly / snnkit |"
echo "|---|---|---|---|"
pypath="$here/.pydeps${PYTHONPATH:+:$PYTHONPATH}"
have_sj=1
PYTHONPATH=$pypath /usr/bin/python3 -c "import spikingjelly" 2>/dev/null || have_sj=0
for t in "${ts[@]}"; do
  s=$(GLIBC_TUNABLES=$tuned "$build/bench_snn_step" --arch cnn --batch 128 --T "$t" --steps "$steps" --threads "$threads" --memory 1 |
      value snn_step_peak_extra_mib || true)
  j=
  if [ $have_sj = 1 ]; then
    j=$(GLIBC_TUNABLES=$tuned PYTHONPATH=$pypath /usr/bin/python3 "$here/py/snn_step_spikingjelly.py" \
        --threads "$threads" --T "$t" --batch 128 --steps "$steps" --memory | value sj_snn_step_peak_extra_mib || true)
  fi
  if [ -z "$s" ]; then
    s_text="(bench_snn_step failed)"
  else
    s_text=$(printf "%.0f" "$s")
  fi
  if [ $have_sj = 0 ]; then
    j_text="(not importable: scripts/setup.sh --bench)"
  elif [ -z "$j" ]; then
    j_text="(failed)"
  else
    j_text=$(printf "%.0f" "$j")
  fi
  ratio=-
  [ -n "$s" ] && [ -n "$j" ] && ratio=$(awk -v s="$s" -v j="$j" 'BEGIN { printf "%.2f", j / s }')
  echo "| $t | $s_text | $j_text | $ratio |"
done

echo
echo "He ResNet-20 (CIFAR-sized input), batch 128, snnkit; peak MiB above the baseline"
echo "| T | snnkit MiB | per step of T |"
echo "|---|---|---|"
for t in "${rts[@]}"; do
  s=$(GLIBC_TUNABLES=$tuned "$build/bench_snn_step" --arch resnet20-he --shape 3,32,32 --batch 128 --T "$t" --steps "$steps" \
      --threads "$threads" --memory 1 | value snn_step_peak_extra_mib || true)
  if [ -n "$s" ]; then
    awk -v t="$t" -v s="$s" 'BEGIN { printf "| %d | %.0f | %.0f |\n", t, s, s / t }'
  else
    echo "| $t | (bench_snn_step failed) | - |"
  fi
done
