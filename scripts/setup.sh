#!/usr/bin/env bash
# Installs every dependency of snnkit from Debian's packages. Idempotent: does nothing when all is present.
# Usage: scripts/setup.sh [--bench]   (--bench also installs Debian's python3-torch for the side-by-side benchmarks)
set -euo pipefail

pkgs=(
  cmake ninja-build ccache g++ make pkg-config
  libtorch-dev libgloo-dev
  libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libjpeg-dev libpng-dev zlib1g-dev
  dataset-fashion-mnist
  gnuplot-nox
  libonnx-dev libprotobuf-dev protobuf-compiler libhdf5-dev
  libopenblas0-openmp
)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(python3-torch python3-numpy)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
