#!/usr/bin/env bash
# Installs every dependency of snnkit from Debian's packages. Idempotent: does nothing when all is present.
# Needs only bash and apt (as root, or sudo), not make or git: it runs on a minimal Debian 12 (debootstrap
# minbase; scripts/check_bare_debian.sh runs it in one through `make test`).
# Usage: scripts/setup.sh [--bench]
#   Always: the C++ build's packages, and the Python side the tests use: Debian's python3-torch, pybind11 and
#   pytest, plus the peer toolkits, pinned, from PyPI into bench/.pydeps (pure Python, installed without their
#   dependencies so that PyPI's numpy never replaces Debian's; the tests check NIR files with nir/nirtorch and
#   compare against snnTorch / SpikingJelly). --bench: nothing more today (kept for the benchmark scripts).
set -euo pipefail

pkgs=(
  cmake ninja-build ccache g++ make pkg-config git
  libtorch-dev libgloo-dev libdnnl-dev
  libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libjpeg-dev libpng-dev zlib1g-dev
  dataset-fashion-mnist
  gnuplot-nox
  libonnx-dev libprotobuf-dev protobuf-compiler libhdf5-dev
  libopenblas0-openmp
  python3-dev python3-torch python3-numpy python3-pip python3-venv python3-pytest python3-h5py pybind11-dev
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo > /dev/null || { echo "setup: run this as root (no sudo here) to install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi

# The peer toolkits (pure Python, on Debian's torch 1.13; SpikingJelly 0.0.0.0.14 is the last release for torch
# 1.x) and the NIR reference packages, pinned. Installed without their other dependencies (numpy and h5py are
# Debian's), into bench/.pydeps, which the tests and benchmarks put on PYTHONPATH.
deps=$(cd "$(dirname "$0")/.." && pwd)/bench/.pydeps
pydeps=(snntorch==1.0.0 spikingjelly==0.0.0.0.14 nir==1.0.8 nirtorch==2.6)
if ! PYTHONPATH=$deps /usr/bin/python3 -c "import snntorch.import_nir, spikingjelly.activation_based.neuron, nir, nirtorch" 2>/dev/null; then
  echo "setup: installing ${pydeps[*]} from PyPI into $deps"
  /usr/bin/python3 -m pip install -q --no-deps --target "$deps" --upgrade "${pydeps[@]}"
fi
