#!/usr/bin/env bash
# Runs every benchmark script (each prints its ratios measured in the same run).
# usage: bench/run_all.sh BUILD_DIR
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for s in "$here"/run_*.sh; do
  [ "$(basename "$s")" = run_all.sh ] && continue
  echo "== $(basename "$s")"
  bash "$s" "$build" || status=1
  echo
done
for b in "$build"/bench_data; do
  [ -x "$b" ] && { echo "== $(basename "$b")"; "$b" || status=1; echo; }
done
exit $status
