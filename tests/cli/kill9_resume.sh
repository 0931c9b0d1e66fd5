#!/usr/bin/env bash
# CLI test of crash-safe training: SIGKILL mid-epoch + --resume (train-ann and train-snn) and SIGTERM + --resume
# end with model.safetensors byte-identical to an uninterrupted run (scripts/kill9_resume.sh; ~35 s of CPU).
# usage: kill9_resume.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/kill9_resume.sh" "$1" "$2/tmp_cli_kill9_resume"
