#!/usr/bin/env bash
# CLI test of data-parallel faults (snnkit/dist): a worker SIGKILLed mid-epoch stops the job within the timeout
# with one line naming the lost rank, a non-zero status and a resumable last checkpoint; MASTER_PORT taken by
# another program; nothing at MASTER_ADDR:MASTER_PORT; ranks started with different settings (seed, arch, T,
# data). One clear error each, no hang: every run is bounded by `timeout`, on 127.0.0.1 only.
# usage: dist_faults.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$1
work=$2/tmp_cli_dist_faults
rm -rf "$work"; mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
unset MASTER_PORT MASTER_ADDR RANK WORLD_SIZE LOCAL_RANK
free_port() { /usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

ann="--dataset fmnist --limit-test 200 --lr 0.05 --stats-samples 64 --quiet"

# 1. SIGKILL of rank 1 mid-epoch (12,000 images: about 3 s of training after the first checkpoint here, so that
#    the job is still running when the workers are found and killed, on a quiet machine too)
timeout 300 "$snn" train-ann $ann --arch cnn --limit-train 12000 --epochs 1 --batch-size 32 --checkpoint-steps 10 \
  --nproc 2 --threads 2 --dist-timeout 10 --out "$work/k" > "$work/k.out" 2> "$work/k.err" &
launcher=$!
pids+=("$launcher")
for _ in $(seq 600); do [ -s "$work/k/checkpoint.safetensors" ] && break; sleep 0.1; done
[ -s "$work/k/checkpoint.safetensors" ] || { cat "$work/k.err"; fail "no checkpoint before the kill"; }
rank_pid() { # the worker with RANK=$1 in its environment: a grandchild (timeout -> launcher -> workers)
  for c in $(for l in $(cat /proc/"$launcher"/task/*/children); do cat /proc/"$l"/task/*/children; done); do
    tr '\0' '\n' < /proc/"$c"/environ | grep -qx "RANK=$1" && { echo "$c"; return; }
  done
}
r0=$(rank_pid 0); r1=$(rank_pid 1)
[ -n "$r0" ] && [ -n "$r1" ] || fail "workers not found"
# the workers are named as the program in ps / top (spawned from the file /proc/self/exe names, not as "exe")
[ "$(cat /proc/"$r1"/comm)" = "$(basename "$snn")" ] || fail "worker process name is '$(cat /proc/"$r1"/comm)'"
kill -9 "$r1"
t0=$(date +%s)
set +e; wait "$launcher"; rc=$?; set -e
dt=$(( $(date +%s) - t0 ))
[ "$rc" -ne 0 ] || fail "launcher exited 0 after a worker was killed"
[ "$dt" -le 15 ] || fail "the job took ${dt}s to stop (timeout 10 s)"
kill -0 "$r0" 2>/dev/null && fail "rank 0 still runs"
grep -q "rank 1 (pid $r1) was killed by signal 9" "$work/k.err" || { cat "$work/k.err"; fail "no line naming the lost rank"; }
[ "$(grep -c 'rank 1 (pid' "$work/k.err")" = 1 ] || { cat "$work/k.err"; fail "the lost rank should be named once"; }
echo "killed rank 1: launcher status $rc after ${dt}s: $(grep 'was killed' "$work/k.err")"
# the last checkpoint is intact and resumes (with 1 process, 2 threads)
timeout 300 "$snn" train-ann $ann --arch cnn --limit-train 12000 --epochs 1 --batch-size 32 --checkpoint-steps 10 \
  --threads 2 --out "$work/k" --resume > /dev/null 2> "$work/k2.err" || { cat "$work/k2.err"; fail "resume after the kill"; }
[ -s "$work/k/model.safetensors" ] || fail "resumed run wrote no model"

small="$ann --arch mlp --limit-train 256 --epochs 1 --batch-size 64 --threads 1"
# (a rank whose flags do not parse never joins: its peers then fail at the timeout, --dist-timeout)
# 2. MASTER_PORT held by another program (a listener that never answers)
port=$(free_port)
/usr/bin/python3 -c "
import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', $port)); s.listen(8); time.sleep(120)" &
pids+=("$!")
sleep 0.5
MASTER_PORT=$port expect_error "MASTER_PORT $port: cannot host the job's store" \
  timeout 60 "$snn" train-ann $small --nproc 2 --out "$work/p1"
# rank 0 of an env:// job hosts the store itself
RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port expect_error "cannot host the store (is MASTER_PORT taken" \
  timeout 60 "$snn" train-ann $small --out "$work/p2"
[ "$(grep -c 'error' "$work/err")" = 1 ] || { cat "$work/err"; fail "one error line"; }

# 3. nothing listening at MASTER_ADDR:MASTER_PORT (loopback, so no packet leaves this machine)
port=$(free_port)
t0=$(date +%s)
RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port expect_error "cannot reach the store" \
  timeout 60 "$snn" train-ann $small --dist-timeout 3 --out "$work/u"
grep -q "127.0.0.1:$port" "$work/err" || fail "the error should name the address"
[ $(( $(date +%s) - t0 )) -le 20 ] || fail "unreachable store: no error within the timeout"
# a rank 0 whose rank 1 never comes
port=$(free_port)
RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port expect_error "did not all connect within 2 s" \
  timeout 60 "$snn" train-ann $small --dist-timeout 2 --out "$work/u0"

# 4. ranks started with different settings: both fail, naming what differs
mismatch() { # WANT FLAGS_RANK0 -- FLAGS_RANK1 (each run with the shared flags)
  local want=$1 port; port=$(free_port); shift
  local a=() b=(); while [ "$1" != "--" ]; do a+=("$1"); shift; done; shift; b=("$@")
  RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout 60 "$snn" "${a[@]}" > /dev/null 2> "$work/m0.err" &
  local p0=$!
  set +e
  RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout 60 "$snn" "${b[@]}" > /dev/null 2> "$work/m1.err"
  local rc1=$?; wait "$p0"; local rc0=$?
  set -e
  [ $rc0 -ne 0 ] && [ $rc1 -ne 0 ] && [ $rc0 -ne 124 ] && [ $rc1 -ne 124 ] || fail "mismatch $want: status $rc0 / $rc1"
  for f in m0 m1; do
    grep -q "rank 1 differs from rank 0 in $want" "$work/$f.err" || { cat "$work/$f.err"; fail "$f: no '$want'"; }
    [ "$(wc -l < "$work/$f.err")" = 1 ] || { cat "$work/$f.err"; fail "$f: one line"; }
  done
}
mismatch "--seed" train-ann $small --seed 1 --out "$work/c0" -- train-ann $small --seed 2 --out "$work/c1"
mismatch "--arch" train-ann $small --out "$work/c2" -- train-ann ${small/--arch mlp/--arch cnn} --out "$work/c3"
mismatch "training data (contents)" train-ann ${small/--limit-train 256/--limit-train 320} --out "$work/c4" -- \
  train-ann $small --out "$work/c5"
snnf="--dataset fmnist --arch mlp --limit-train 256 --limit-test 100 --epochs 1 --batch-size 64 --threads 1 --quiet"
mismatch "--T" train-snn $snnf --T 4 --out "$work/c6" -- train-snn $snnf --T 2 --out "$work/c7"
# one rank exchanging gradients, the other in Gloo's ring: they would never meet
mismatch "--comm-sched/--allreduce" train-ann $small --out "$work/c8" -- train-ann $small --comm-sched off --out "$work/c9"

echo "dist_faults: OK"
