#!/usr/bin/env bash
# Test of scripts/stale_results.py on a small git history made here: result JSONs with and without provenance,
# committed before and after changes under src/snnkit/convert and src/snnkit/train (and changes elsewhere that
# must not count), each checked for its verdict, the commit it is dated by, the change count and the newest change.
# usage: stale_results.sh SNNKIT_BINARY BUILD_DIR (the binary is not used)
set -euo pipefail
work=$2/tmp_cli_stale_results
rm -rf "$work"; mkdir -p "$work/repo"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib/common.sh"
script=$here/../../scripts/stale_results.py
repo=$work/repo
g() { git -C "$repo" -c user.name=test -c user.email=test@example.invalid -c commit.gpgsign=false "$@"; }
commit() { g add -A && g commit -q --no-verify -m "$1" && g rev-parse HEAD; }
edit() { mkdir -p "$repo/$(dirname "$1")"; echo "$2" >> "$repo/$1"; }
result() {  # result NAME [GIT_COMMIT [DIRTY]]: a result JSON, with a provenance object when a commit is given
  local prov=""
  [ $# -ge 2 ] && prov=", \"provenance\": {\"snnkit_version\": \"0.1\", \"git_commit\": \"$2\", \"git_dirty\": ${3:-false}}"
  mkdir -p "$repo/docs/results"
  echo "{\"command\": \"eval\", \"accuracy\": 91.5$prov}" > "$repo/docs/results/$1.json"
}
stale() {  # stale ARGS...: runs the script in the repository; output in $work/out, exit status in $rc
  set +e; (cd "$repo" && /usr/bin/python3 "$script" "$@") > "$work/out" 2> "$work/err"; rc=$?; set -e
}
verdict() {  # verdict NAME WORD TEXT: the line of NAME.json says WORD and contains TEXT
  local line
  line=$(grep "^[a-z]* docs/results/$1.json: " "$work/out") || fail "no line for $1.json: $(cat "$work/out")"
  [[ $line == "$2 "* ]] || fail "$1.json is not $2: $line"
  [[ $line == *"$3"* ]] || fail "$1.json's line lacks '$3': $line"
}

git init -q "$repo"
edit src/snnkit/convert/calibrate.cpp "v1"; edit src/snnkit/train/trainer.cpp "v1"; edit src/snnkit/nn/graph.cpp "v1"
result old_noprov
c1=$(commit "first code and a result")
edit src/snnkit/convert/calibrate.cpp "v2"
c2=$(commit "convert change one")
result mid_noprov
result prov_c1 "$c1"                        # made at c1, committed only now: provenance wins
c3=$(commit "results after the convert change")
edit src/snnkit/train/trainer.cpp "v2"
result made_with_train_change
c4=$(commit "train change two")
edit src/snnkit/nn/graph.cpp "v2"           # outside convert/ and train/
edit src/snnkit/converter/other.cpp "v1"    # a folder whose name only starts with convert
result prov_c4 "$c4"
result prov_c4_dirty "$c4" true
result prov_unknown unknown                 # no usable commit: dated by its own commit (c5)
result prov_foreign 0123456789abcdef0123456789abcdef01234567
echo '{"command": "eval", "accuracy": ' > "$repo/docs/results/cut.json"   # not JSON: dated by c5 as well
c5=$(commit "graph change and newer results")
result untracked_prov "$c4"                 # never committed, but its provenance names c4
result untracked_noprov

s() { git -C "$repo" rev-parse --short=7 "$1"; }
stale
[ $rc -eq 0 ] || fail "exit status $rc without --fail: $(cat "$work/err")"
verdict old_noprov stale "no provenance; committed in $(s "$c1"); 2 change(s)"
verdict old_noprov stale "newest $(s "$c4") train change two"
verdict mid_noprov stale "no provenance; committed in $(s "$c3"); 1 change(s)"
verdict prov_c1 stale "made at $(s "$c1"); 2 change(s)"
verdict made_with_train_change fresh "committed in $(s "$c4"); no change"
verdict prov_c4 fresh "made at $(s "$c4"); no change"
verdict prov_c4_dirty fresh "made at $(s "$c4") (dirty tree"
verdict prov_unknown fresh "provenance git_commit 'unknown'; committed in $(s "$c5")"
verdict prov_foreign fresh "is not in this repository; committed in $(s "$c5")"
verdict cut fresh "not readable as JSON"
verdict untracked_prov fresh "made at $(s "$c4"); no change"
verdict untracked_noprov stale "never committed"
[ "$(tail -n 1 "$work/out")" = "stale: 4 of 11 result JSONs" ] || fail "summary: $(tail -n 1 "$work/out")"

stale --fail
[ $rc -eq 1 ] || fail "--fail with stale JSONs exited $rc"
stale --fail --quiet docs/results/prov_c4.json docs/results/made_with_train_change.json
[ $rc -eq 0 ] || fail "--fail with only fresh JSONs exited $rc"
[ "$(cat "$work/out")" = "stale: 0 of 2 result JSONs" ] || fail "--quiet printed fresh lines: $(cat "$work/out")"
stale --code src/snnkit/nn docs/results/prov_c4.json
verdict prov_c4 stale "1 change(s) under src/snnkit/nn since, newest $(s "$c5") graph change"
stale docs/results/none.json
[ $rc -eq 2 ] && grep -q "none.json: no such file" "$work/err" || fail "a missing path: exit $rc, $(cat "$work/err")"
echo "stale_results: ok"
