#!/usr/bin/env bash
# CLI test of data-parallel training across two hosts: two network namespaces joined by a veth pair (10.77.0.1
# and 10.77.0.2, inside this test's own network and mount namespaces, so nothing touches the machine's network)
# run one 2-rank env:// job through MASTER_ADDR=10.77.0.1 (rank 0 hosts the store; each rank's Gloo transport
# binds the address that reaches it); the weights equal the single-host 2-rank run's. Skipped (status 77, shown
# by ctest) without the capability to make namespaces.
# usage: dist_two_hosts.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$(realpath "$1")
work=$(realpath -m "$2/tmp_cli_dist_two_hosts")
rm -rf "$work"; mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset MASTER_PORT MASTER_ADDR RANK WORLD_SIZE LOCAL_RANK

if ! command -v ip > /dev/null || ! unshare --net --mount --propagation private true 2> /dev/null; then
  echo "SKIP: dist_two_hosts needs 'ip' and the capability to make network namespaces (root / CAP_NET_ADMIN)"
  exit 77
fi

flags="train-ann --dataset fmnist --arch mlp --limit-train 640 --limit-test 300 --lr 0.05 --stats-samples 64 --quiet
  --epochs 2 --batch-size 64 --threads 1 --dist-timeout 20"
# the single-host reference: 2 ranks on loopback
timeout 180 "$snn" $flags --nproc 2 --out "$work/local"

# the two hosts: everything below runs in a private network + mount namespace, removed when it exits
timeout 300 unshare --net --mount --propagation private bash -s "$snn" "$work" "$flags" <<'SH' || fail "two-host job"
set -euo pipefail
snn=$1; work=$2; flags=$3
cleanup() { ip netns del hostA 2>/dev/null || true; ip netns del hostB 2>/dev/null || true; }
trap cleanup EXIT
mkdir -p /run/netns && mount -t tmpfs snnkit-netns /run/netns
ip netns add hostA
ip netns add hostB
ip link add vethA type veth peer name vethB
ip link set vethA netns hostA
ip link set vethB netns hostB
ip -n hostA addr add 10.77.0.1/24 dev vethA
ip -n hostB addr add 10.77.0.2/24 dev vethB
for h in hostA hostB; do ip -n $h link set lo up; done
ip -n hostA link set vethA up
ip -n hostB link set vethB up
job="WORLD_SIZE=2 MASTER_ADDR=10.77.0.1 MASTER_PORT=29511"
ip netns exec hostA env $job RANK=0 LOCAL_RANK=0 "$snn" $flags --out "$work/two" --json "$work/two.json" \
  > "$work/a.log" 2>&1 &
a=$!
set +e
ip netns exec hostB env $job RANK=1 LOCAL_RANK=0 "$snn" $flags --out "$work/two_rank1" > "$work/b.log" 2>&1
rb=$?
wait $a; ra=$?
set -e
cat "$work/a.log" "$work/b.log"
[ $ra -eq 0 ] && [ $rb -eq 0 ]
SH
/usr/bin/python3 "$here/lib/compare_weights.py" "$work/local/checkpoint.safetensors" "$work/two/checkpoint.safetensors" \
  1e-5 || fail "two hosts differ from the single-host 2-rank run"
[ ! -e "$work/two_rank1/checkpoint.safetensors" ] || fail "rank 1 wrote a checkpoint"
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['dist']; assert d['world_size']==2 and d['launch']=='env', d" \
  "$work/two.json" || fail "JSON of the two-host job"
ip netns list 2>/dev/null | grep -q hostA && fail "namespace hostA left behind"
echo "dist_two_hosts: OK"
