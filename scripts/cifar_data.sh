# scripts/cifar_data.sh: sourced by the CIFAR-10 scripts. cifar_data_ready DIR makes sure DIR holds the
# CIFAR-10 (JPEG q75) ImageFolder tree (train/ and test/), extracting ../shared/datasets/cifar10-jpeg.tar.gz
# into it when it does not (atomically: a partial extraction is never taken for the data). Never downloads.
cifar_data_ready() {
  local data=$1 root tarball
  [ -d "$data/train" ] && [ -d "$data/test" ] && return 0
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  tarball=$root/../shared/datasets/cifar10-jpeg.tar.gz
  if [ ! -f "$tarball" ]; then
    echo "$(basename "$0"): no $data/train and no $tarball to extract" >&2
    return 1
  fi
  if [ -e "$data" ]; then # a folder without train/ and test/ is not ours to replace
    echo "$(basename "$0"): $data exists but lacks train/ or test/; remove it or point DATA elsewhere" >&2
    return 1
  fi
  echo "[$(date +%H:%M:%S)] extracting $tarball to $data"
  rm -rf "$data.partial"
  mkdir -p "$data.partial" && tar xzf "$tarball" -C "$data.partial" && mv "$data.partial" "$data"
}
