#!/usr/bin/env bash
# Compiles (syntax and types only) every C++ file of snnkit against the headers of a LibTorch 2.x, to
# keep the code building on both Debian's LibTorch 1.13 and LibTorch 2.x (e.g. the GPU machines' pip torch).
# usage: scripts/check_libtorch2.sh TORCH_INCLUDE_DIR [FILE...]
#   e.g. pip download --no-deps --only-binary=:all: torch==2.5.1 -d /tmp/t && unzip -q /tmp/t/torch-*.whl 'torch/include/*' -d /tmp/t
#        scripts/check_libtorch2.sh /tmp/t/torch/include
#   FILE...: only these (default: every tracked .cpp under src/, tests/, bench/, examples/).
#   env: JOBS (parallel compilers; default: the number of CPUs).
set -uo pipefail
inc=${1:?usage: scripts/check_libtorch2.sh TORCH_INCLUDE_DIR [FILE...]}
shift
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files 'src/*.cpp' 'tests/*.cpp' 'bench/*.cpp' 'examples/*.cpp')
fi
errs=$(mktemp -d)
trap 'rm -rf "$errs"' EXIT
check_one() { # FILE: prints "== FILE" and its first errors when it does not compile
  local f=$1 log
  log="$errs/$(echo "$f" | tr '/' '_').err"
  if ! g++ -fsyntax-only -std=c++17 -fopenmp -Isrc -Itests -I"$inc" -I"$inc/torch/csrc/api/include" \
       -DONNX_ML=1 -DONNX_NAMESPACE=onnx -DSNNKIT_SOURCE_DIR='"."' -DSNNKIT_BINARY_DIR='"."' "$f" 2> "$log"; then
    echo "== $f"; grep -E "error" "$log" | head -5
    return 1
  fi
}
export -f check_one
export inc errs
printf '%s\n' "${files[@]}" | xargs -P "${JOBS:-$(nproc)}" -I{} bash -c 'check_one "$1" || echo FAILED >> "$errs/failed"' _ {}
fails=0
[ -f "$errs/failed" ] && fails=$(wc -l < "$errs/failed")
echo "files that do not compile against $inc: $fails of ${#files[@]}"
[ "$fails" -eq 0 ]
