#!/usr/bin/env bash
# fuzz/run_all.sh: runs each libFuzzer target for a bounded time and prints one summary line per target
# (executions, coverage, result). Exits non-zero if any target found a crash, leak, timeout or OOM.
# usage: [FUZZ_FLAGS="-detect_leaks=0 ..."] fuzz/run_all.sh FUZZ_BUILD_DIR SECONDS TARGET...
#   (targets: idx cifar image safetensors model onnx nir; FUZZ_FLAGS: extra libFuzzer flags)
set -uo pipefail
build=$1 secs=$2; shift 2
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$build/artifacts" "$build/logs"
status=0
printf '%-12s %10s %8s %8s %8s  %s\n' target execs exec/s cov ft result
for t in "$@"; do
  mkdir -p "$build/corpus/$t"
  log=$build/logs/$t.log
  # nir: HDF5 runs in a child process (src/snnkit/interop/h5_read.h). A malloc of gigabytes that a damaged file
  # asks of libhdf5 there must fail (HDF5 reports it), not trip libFuzzer's malloc limit inside the child,
  # which would write an oom- artifact for a failure the parent handles. Reports printed by such children
  # (ASan on libhdf5's memcpy) end only the child and are expected in the log.
  # Its child has a time limit of its own (5 s for a small file; libhdf5 spins for minutes on some damaged
  # global heaps), so the hang limit of the target is 30 s: above that, not libhdf5 but snnkit hangs.
  extra_asan="" hang=10
  [ "$t" = nir ] && extra_asan="max_allocation_size_mb=2048:allocator_may_return_null=1" hang=30
  # -timeout: one input taking > 10 s is a hang; -rss_limit_mb: > 2.5 GiB is an OOM (the loaders cap images at
  # 2^28 pixels, about 1 GiB decoded); -detect_leaks is on by default.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$extra_asan" "$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=$hang -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t-" ${FUZZ_FLAGS:-} "$build/corpus/$t" "$src/corpus/$t" > "$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' <<< "$last" | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' <<< "$last" | grep -o '[0-9]*')
  if [ $rc -eq 0 ]; then result=ok; else
    # the last summary is the fuzzer's own (children of the nir target print reports of their own before it)
    result="FAILED (rc $rc): $(grep -E 'SUMMARY: |ERROR: libFuzzer' "$log" | tail -1 | cut -c1-120) -- see $log"
    status=1
  fi
  printf '%-12s %10s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $status
