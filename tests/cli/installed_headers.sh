#!/usr/bin/env bash
# The installed package holds only public headers: no *_internal.h nor a header whose first line says it is
# internal (onnx_proto.h, nir_fold.h, neuron_kernel.h, ...), and every #include of an installed header
# is the C++ standard library, LibTorch (ATen/c10/torch: the package's public dependency) or another installed
# snnkit header, so nothing leaks a private dependency (hdf5.h, nlohmann/json.hpp, protobuf). All installed
# headers then compile together with only the install's include directory added.
# usage: installed_headers.sh SNNKIT_BINARY BUILD_DIR (the binary is not used)
set -euo pipefail
work=$2/tmp_cli_installed_headers
rm -rf "$work"; mkdir -p "$work"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib/common.sh"

cmake --install "$2" --prefix "$work/prefix" > /dev/null
inc=$work/prefix/include
[ -f "$inc/snnkit/io/model_io.h" ] || fail "no headers installed under $inc/snnkit"
# internal: named *_internal.h, or saying so in the first line ("... (internal to snnkit/interop)")
while read -r h; do
  case $h in
    *_internal.h) echo "$h" ;;
    *) if head -1 "$h" | grep -q '(internal'; then echo "$h"; fi ;;
  esac
done < <(find "$inc" -name '*.h') > "$work/internal"
[ ! -s "$work/internal" ] || fail "internal headers installed: $(tr '\n' ' ' < "$work/internal")"

: > "$work/bad"
n=0
while read -r h; do
  n=$((n + 1))
  { grep -oE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"][^>"]+[>"]' "$h" || true; } | sed -E 's/.*[<"]([^>"]+)[>"]$/\1/' |
    while read -r i; do
      case $i in
        snnkit/*) [ -f "$inc/$i" ] || echo "${h#"$inc"/} includes $i, which is not installed" ;;
        ATen/* | c10/* | torch/*) ;;
        */* | *.h | *.hpp) echo "${h#"$inc"/} includes <$i>, a dependency the package does not export" ;;
        *) ;; # the standard library
      esac
    done >> "$work/bad"
done < <(find "$inc" -name '*.h' | sort)
[ ! -s "$work/bad" ] || { cat "$work/bad"; fail "installed headers include what is not installed"; }
[ "$n" -ge 40 ] || fail "only $n headers installed"

# Every installed header in one translation unit, with the install's include directory as the only addition.
find "$inc" -name '*.h' | sort | sed "s|^$inc/|#include \"|; s|\$|\"|" > "$work/all.cpp"
echo 'int main() { return 0; }' >> "$work/all.cpp"
c++ -std=c++17 -fsyntax-only -I"$inc" "$work/all.cpp" || fail "the installed headers do not compile on their own"
echo "installed headers: $n, all public and self-contained"
