#!/usr/bin/env bash
# Test of scripts/result_done.sh, the skip rule of the result-table scripts: a finished run of the asked epochs
# is skipped, a missing one is run, and a JSON of another epoch count or without one stops the script with one
# line naming the file (it is never skipped into the table, nor trained over).
# usage: result_done.sh SNNKIT_BINARY BUILD_DIR (the binary is not used)
set -euo pipefail
work=$2/tmp_cli_result_done
rm -rf "$work"; mkdir -p "$work"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib/common.sh"
source "$here/../../scripts/result_done.sh"

result_done "$work/none.json" 30 && fail "a missing JSON counted as done"
: > "$work/empty.json"
result_done "$work/empty.json" 30 && fail "an empty JSON counted as done"
echo '{"command": "train-snn", "epochs": 30, "test_accuracy": 70.1}' > "$work/r30.json"
result_done "$work/r30.json" 30 || fail "a finished 30-epoch run was not skipped"
expect_error "r30.json holds a 30-epoch run, not 5 epochs" bash -c "source '$here/../../scripts/result_done.sh'; result_done '$work/r30.json' 5; echo reached"
grep -q reached "$work/out" && fail "the script went on after an epoch mismatch"
[ "$(wc -l < "$work/err")" -eq 1 ] || fail "more than one error line: $(cat "$work/err")"
echo '{"command": "train-snn"' > "$work/cut.json"
expect_error "cut.json is not a finished run's JSON" bash -c "source '$here/../../scripts/result_done.sh'; result_done '$work/cut.json' 5"
echo "result_done: ok"
