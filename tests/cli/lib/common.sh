# tests/cli/lib/common.sh: helpers sourced by the CLI test scripts (which set $work first).
fail() { echo "FAIL: $*"; exit 1; }

# expect_error SUBSTRING COMMAND...: the command must exit non-zero and print SUBSTRING on stderr.
expect_error() {
  local want=$1; shift
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  [ $rc -ne 0 ] || fail "no error for: $*"
  grep -q -- "$want" "$work/err" || { cat "$work/err"; fail "error for '$*' lacks '$want'"; }
}
