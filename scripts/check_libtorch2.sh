#!/usr/bin/env bash
# Compiles (syntax and types only) every C++ file of snnkit against the headers of a LibTorch 2.x, to
# keep the code building on both Debian's LibTorch 1.13 and LibTorch 2.x (e.g. the GPU machines' pip torch).
# usage: scripts/check_libtorch2.sh TORCH_INCLUDE_DIR
#   e.g. pip download --no-deps --only-binary=:all: torch==2.5.1 -d /tmp/t && unzip -q /tmp/t/torch-*.whl 'torch/include/*' -d /tmp/t
#        scripts/check_libtorch2.sh /tmp/t/torch/include
set -uo pipefail
inc=${1:?usage: scripts/check_libtorch2.sh TORCH_INCLUDE_DIR}
cd "$(dirname "$0")/.."
fails=0
for f in $(git ls-files 'src/*.cpp' 'tests/*.cpp' 'bench/*.cpp' 'examples/*.cpp'); do
  if ! g++ -fsyntax-only -std=c++17 -fopenmp -Isrc -Itests -I"$inc" -I"$inc/torch/csrc/api/include" \
       -DSNNKIT_SOURCE_DIR='"."' -DSNNKIT_BINARY_DIR='"."' "$f" 2> /tmp/check_libtorch2.err; then
    echo "== $f"; grep -E "error" /tmp/check_libtorch2.err | head -5
    fails=$((fails + 1))
  fi
done
echo "files that do not compile against $inc: $fails"
[ $fails -eq 0 ]
