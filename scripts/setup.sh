#!/usr/bin/env bash
# Installs every dependency of snnkit from Debian's packages. Idempotent: does nothing when all is present.
# Usage: scripts/setup.sh [--bench]   (--bench also installs Debian's python3-torch for the side-by-side
#        benchmarks, and the Python SNN toolkits they compare against, pinned, from PyPI into bench/.pydeps)
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
  pkgs+=(python3-torch python3-numpy python3-pip)
fi

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
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi

# The toolkits the neuron benchmark measures (pure Python, on Debian's torch 1.13; SpikingJelly 0.0.0.0.14 is
# the last release for torch 1.x). Installed without their other dependencies, which the LIF layers do not use.
if [[ "${1:-}" == "--bench" ]]; then
  deps=$(cd "$(dirname "$0")/.." && pwd)/bench/.pydeps
  if ! PYTHONPATH=$deps /usr/bin/python3 -c "import snntorch, spikingjelly.activation_based.neuron" 2>/dev/null; then
    echo "setup: installing snntorch 1.0.0 and spikingjelly 0.0.0.0.14 from PyPI into $deps"
    /usr/bin/python3 -m pip install -q --no-deps --target "$deps" snntorch==1.0.0 spikingjelly==0.0.0.0.14 ||
      echo "setup: could not install them; the neuron benchmark will skip the toolkit comparison" >&2
  fi
fi
