#!/usr/bin/env bash
# scripts/check_bare_debian.sh: checks the README's first commands on a minimal Debian 12, which CI cannot: a
# `debootstrap --variant=minbase bookworm` chroot (no make, git, sudo, compiler or Python), this repository's HEAD
# cloned into it, then, inside, exactly what the README's "Two commands" tell a new user (as root):
#   apt-get update && apt-get install -y make git
#   make test CTEST_ARGS="-R '<TESTS>'"   (the full `make test` is slow on 2 cores)
# `make test` runs scripts/setup.sh (every Debian package, the pinned PyPI packages into bench/.pydeps), builds
# everything (library, command, tests, benchmarks, examples) and runs the ctest subset; then the Python side the
# tests use is imported with its versions printed.
#
# usage: sudo bash scripts/check_bare_debian.sh [ROOT]
#   ROOT (default /var/tmp/snnkit-bare-debian): a folder that does not exist gets a new minbase system; an existing
#   one is reused as it is (what earlier runs installed stays, so it is no longer bare: give a new folder for the
#   real check). Keep ROOT outside the repository.
# environment: TESTS   ctest regex (default: the convert/eval and result-check CLI tests, the safetensors tests,
#                      every Python test)
#              TIMEOUT seconds for everything inside the chroot (default 5400)
#              MIRROR  Debian mirror for debootstrap (default http://deb.debian.org/debian)
# The host's compiler cache is bind-mounted in, with its max_size (the repository sits under /work inside, and
# base_dir is /work as on the host), so the build reuses what the host compiled. The host's DNS settings, local CA
# certificates and /etc/pip.conf are copied in so that apt and pip reach the network the way the host does; a
# machine on an ordinary network needs none of them. Everything mounted is unmounted on exit. Needs root, debootstrap and git.
set -euo pipefail

root=${1:-/var/tmp/snnkit-bare-debian}
tests=${TESTS:-cli_convert_eval|cli_stale_results|safetensors|py_}
limit=${TIMEOUT:-5400}
mirror=${MIRROR:-http://deb.debian.org/debian}
inside_repo=/work/snnkit   # under /work, ccache's base_dir, so object hashes match the host's
say() { printf '\n== [%4ds] %s\n' "$SECONDS" "$*"; }
die() { echo "check_bare_debian: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"
src=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
sha=$(git -C "$src" rev-parse HEAD)
root=$(realpath -m "$root")
case "$root/" in "$src"/*) die "ROOT $root is inside the repository $src";; esac
[ -z "$(git -C "$src" status --porcelain --untracked-files=no)" ] ||
  echo "check_bare_debian: note: uncommitted changes in $src are not checked (HEAD $sha is)"

if [ ! -e "$root" ]; then
  command -v debootstrap > /dev/null || die "debootstrap is missing (apt-get install debootstrap)"
  say "debootstrap --variant=minbase bookworm $root"
  debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 ||
    { tail -n 20 "$root.debootstrap.log"; die "debootstrap failed (log: $root.debootstrap.log)"; }
  # A standard Debian 12 install also has bookworm-updates and the security archive.
  rm -f "$root/etc/apt/sources.list"
  cat > "$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"   # no service starts inside the chroot
  chmod 755 "$root/usr/sbin/policy-rc.d"
else
  [ -x "$root/usr/bin/apt-get" ] || die "$root exists but holds no Debian system"
  say "reusing $root as it is (not bare if an earlier run installed packages there)"
fi
for tool in make git g++ cmake; do
  chroot "$root" sh -c "command -v $tool" > /dev/null && echo "inside: $tool present" || echo "inside: $tool absent"
done

# The host's network settings (see the header).
cp /etc/resolv.conf "$root/etc/resolv.conf"
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2> /dev/null || umount -l "${mounted[i]}" || echo "check_bare_debian: could not unmount ${mounted[i]}" >&2
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mnt() {  # mnt TARGET MOUNT-ARGS...: mounts at ROOT/TARGET and remembers it for the exit trap
  local at=$root$1; shift
  mkdir -p "$at"
  mountpoint -q "$at" && die "$at is already mounted (an earlier run's leftover? unmount it first)"
  mount "$@" "$at"
  mounted+=("$at")
}
mnt /proc -t proc proc
mnt /sys -t sysfs sysfs
mnt /dev --bind /dev
mnt /dev/pts --bind /dev/pts
mnt /dev/shm -t tmpfs -o mode=1777 shm
cache_env=()
if command -v ccache > /dev/null; then
  cache=$(ccache -k cache_dir)
  mnt /root/.cache/ccache --bind "$cache"
  cache_env=(CCACHE_DIR=/root/.cache/ccache CCACHE_BASEDIR=/work CCACHE_MAXSIZE="$(ccache -k max_size)"
    CCACHE_STATSLOG=/work/ccache-stats.log)
  echo "host ccache $cache mounted at /root/.cache/ccache (base_dir /work)"
fi

say "cloning $src at $sha to $inside_repo"
rm -rf "$root$inside_repo"
mkdir -p "$root/work"
git clone -q --no-checkout "$src" "$root$inside_repo"
git -C "$root$inside_repo" -c advice.detachedHead=false checkout -q "$sha"
rm -f "$root/work/ccache-stats.log"

# What runs inside: the README's lines, each timed; then the Python side's versions and this build's cache use.
read -r -d '' inside <<EOF || true
set -euo pipefail
step() { printf '\n== [%4ds inside] %s\n' "\$SECONDS" "\$*"; }
cd $inside_repo
step "README, first line: apt-get update && apt-get install -y make git"
apt-get update && apt-get install -y make git
step "README: make test CTEST_ARGS=\"-R '$tests'\""
make test CTEST_ARGS="-R '$tests'"
step "Python side: PYTHONPATH=bench/.pydeps /usr/bin/python3 (Debian's torch, the pinned PyPI packages)"
PYTHONPATH=bench/.pydeps /usr/bin/python3 - <<'PY'
import importlib
for name in ["torch", "numpy", "h5py", "pytest", "snntorch", "spikingjelly", "nir", "nirtorch"]:
    m = importlib.import_module(name)
    print("  %-12s %-22s %s" % (name, getattr(m, "__version__", "?"), m.__file__))
PY
dpkg-query -W -f='  pybind11-dev \${Version} (C++ headers and CMake package, /usr/include/pybind11)\n' pybind11-dev
test -f /usr/include/pybind11/pybind11.h
if [ -s /work/ccache-stats.log ]; then
  step "ccache, this build only"
  ccache --show-log-stats 2>/dev/null | sed -n '1,6p'
fi
step "done"
EOF

say "inside the chroot (limit ${limit}s)"
set +e
timeout "$limit" chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  "${cache_env[@]}" \
  bash -c "$inside"
rc=$?
set -e
if [ $rc -eq 124 ]; then
  say "FAILED: the steps inside did not finish within ${limit}s"
elif [ $rc -ne 0 ]; then
  say "FAILED: exit status $rc inside the chroot"
else
  say "OK: the README's set-up works on a minimal Debian 12 (HEAD $sha, ${SECONDS}s in all)"
fi
exit $rc
