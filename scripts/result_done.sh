# scripts/result_done.sh: sourced by the result-table scripts. `result_done JSON EPOCHS` succeeds when JSON
# holds a finished run of EPOCHS epochs (the script skips it) and fails when there is no JSON (the script runs
# it). A JSON from a run of another length stops the script with one line: skipping it would put that run in
# the table under the wrong number of epochs, and training again would replace a finished result.
result_done() {
  local json=$1 want=$2 have
  [ -s "$json" ] || return 1
  if ! have=$(/usr/bin/env python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["epochs"])' "$json" 2>/dev/null); then
    echo "$(basename "$0"): $json is not a finished run's JSON (no \"epochs\"); move it away to run again" >&2
    exit 2
  fi
  [ "$have" = "$want" ] && return 0
  echo "$(basename "$0"): $json holds a $have-epoch run, not $want epochs; choose another OUT (or EPOCHS=$have)" >&2
  exit 2
}
