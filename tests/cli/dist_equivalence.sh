#!/usr/bin/env bash
# CLI test of data-parallel training (snnkit/dist): 2 processes with global batch B end with the weights of
# 1 process with batch B (train-ann and train-snn on the zoo's mlp: no BatchNorm, no dropout; B divisible by 2
# and not; on cnn with BatchNorm under --sync-bn; Dspike's adaptation with its FDG split over the ranks), through
# --nproc and through torchrun; a 2-rank run stopped mid-epoch and resumed with 1 process
# ends where the uninterrupted run does; rank 0 alone writes, and the JSON records the job. Every run is bounded
# by `timeout`; the ranks meet on 127.0.0.1 at a free port.
# usage: dist_equivalence.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$1
work=$2/tmp_cli_dist_equivalence
rm -rf "$work"; mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset MASTER_PORT MASTER_ADDR RANK WORLD_SIZE LOCAL_RANK
T="timeout 180"
same() { /usr/bin/python3 "$here/lib/compare_weights.py" "$1" "$2" 1e-5 || fail "weights differ: $1 vs $2"; }
free_port() { /usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }

ann="--dataset fmnist --arch mlp --limit-train 640 --limit-test 300 --lr 0.05 --stats-samples 64 --quiet"

# 1. train-ann: 2 ranks x 32 == 1 x 64 after 2 epochs of 10 SGD steps (momentum, cosine schedule)
$T "$snn" train-ann $ann --epochs 2 --batch-size 64 --out "$work/a1" --threads 1 --json "$work/a1.json"
$T "$snn" train-ann $ann --epochs 2 --batch-size 64 --out "$work/a2" --threads 2 --nproc 2 --json "$work/a2.json" \
  2> "$work/a2.err"
same "$work/a1/checkpoint.safetensors" "$work/a2/checkpoint.safetensors"
same "$work/a1/model.safetensors" "$work/a2/model.safetensors"
/usr/bin/python3 - "$work" <<'PY' || fail "JSON of the 2-rank run"
import json, sys
w = sys.argv[1]
a1, a2 = json.load(open(w + "/a1.json")), json.load(open(w + "/a2.json"))
assert a1["dist"]["world_size"] == 1 and a1["dist"]["launch"] == "single", a1["dist"]
d = a2["dist"]
assert d["world_size"] == 2 and d["launch"] == "snnkit" and d["timeout_s"] == 60 and d["gradient_buckets"] >= 1, d
assert a2["train"]["threads"] == 1, "each of 2 workers gets 1 of --threads 2"
import os
allowed = sorted(os.sched_getaffinity(0))  # rank 0 is bound to the first of them when 2 CPUs are there to share
assert d["cpus"] == (allowed[:1] if len(allowed) >= 2 else None), (d["cpus"], allowed)
assert a1["dist"]["cpus"] is None, a1["dist"]
# Gloo's threads' CPU: some, and a small part of the process's (whose main thread loaded the data and trained)
assert a1["dist"]["comm_thread_cpu_seconds"] is None, a1["dist"]
c, p = d["comm_thread_cpu_seconds"], d["process_cpu_seconds"]
assert c is not None and 0 < c < 0.5 * p, (c, p)
assert abs(a1["test_accuracy"] - a2["test_accuracy"]) < 1e-9, "sharded evaluation, counts summed"
for k in ("train_loss", "train_accuracy"):  # the global batch's, summed over ranks
    assert abs(a1["history"][-1][k] - a2["history"][-1][k]) < 1e-4, (k, a1["history"][-1], a2["history"][-1])
PY
[ "$(wc -l < "$work/a2/train_log.jsonl")" = 2 ] || fail "rank 0 writes the log once per epoch"
[ ! -s "$work/a2.err" ] || { cat "$work/a2.err"; fail "--quiet 2-rank run printed on stderr"; }
# --comm-sched off (Gloo's threads as they start, Gloo's ring) and --allreduce ring change how the sums travel,
# not what they are: the default (defer: pair exchange for 2 ranks) gave a2
$T "$snn" train-ann $ann --epochs 2 --batch-size 64 --out "$work/a3" --threads 2 --nproc 2 --comm-sched off \
  --json "$work/a3.json" 2> "$work/a3.err"
same "$work/a1/model.safetensors" "$work/a3/model.safetensors"
$T "$snn" train-ann $ann --epochs 2 --batch-size 64 --out "$work/a4" --threads 2 --nproc 2 --allreduce ring \
  --json "$work/a4.json"
same "$work/a1/model.safetensors" "$work/a4/model.safetensors"
/usr/bin/python3 - "$work" <<'PY' || fail "comm_sched / allreduce in the JSON"
import json, sys
w = sys.argv[1]
d2, d3, d4 = (json.load(open(f"{w}/a{k}.json"))["dist"] for k in (2, 3, 4))
assert (d2["comm_sched"], d2["allreduce"]) == ("defer", "pair exchange"), d2
assert (d3["comm_sched"], d3["allreduce"]) == ("off", "gloo ring"), d3
assert (d4["comm_sched"], d4["allreduce"]) == ("defer", "gloo ring"), d4
PY
[ ! -s "$work/a3.err" ] || { cat "$work/a3.err"; fail "--comm-sched off printed on stderr (a warning?)"; }

# 2. a global batch that 2 ranks cannot split evenly (63 = 32 + 31): the weighted average is still exact
$T "$snn" train-ann $ann --epochs 1 --batch-size 63 --out "$work/b1" --threads 1
$T "$snn" train-ann $ann --epochs 1 --batch-size 63 --out "$work/b2" --threads 2 --nproc 2 --no-cpu-bind \
  --json "$work/b2.json"
same "$work/b1/checkpoint.safetensors" "$work/b2/checkpoint.safetensors"
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['dist']; assert d['cpus'] is None, d" \
  "$work/b2.json" || fail "--no-cpu-bind: the workers were bound"

# 3. train-snn (T = 4, BPTT through LIF neurons): 2 ranks == 1
snnf="--dataset fmnist --arch mlp --T 4 --limit-train 384 --limit-test 200 --lr 0.05 --quiet --epochs 1 --batch-size 64"
$T "$snn" train-snn $snnf --out "$work/s1" --threads 1
$T "$snn" train-snn $snnf --out "$work/s2" --threads 2 --nproc 2 --json "$work/s2.json"
same "$work/s1/checkpoint.safetensors" "$work/s2/checkpoint.safetensors"
jget() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['dist'][sys.argv[2]])" "$1" "$2"; }
[ "$(jget "$work/s2.json" world_size)" = 2 ] || fail "train-snn JSON lacks the world size"

# 3b. --sync-bn: a net with BatchNorm (cnn, no dropout) equals 1 process after 3 steps, train-ann and train-snn;
#     without it the per-rank statistics differ (the check can fail)
bn="--dataset fmnist --arch cnn --dropout 0 --limit-train 640 --limit-test 100 --lr 0.02 --quiet --epochs 1 --batch-size 64
  --max-steps 3"
for cmd in train-ann train-snn; do
  extra=""; [ $cmd = train-snn ] && extra="--T 2"
  $T "$snn" $cmd $bn $extra --out "$work/$cmd.bn1" --threads 1 2>/dev/null || true # stops at --max-steps
  $T "$snn" $cmd $bn $extra --out "$work/$cmd.bn2" --threads 2 --nproc 2 --sync-bn 2>/dev/null || true
  $T "$snn" $cmd $bn $extra --out "$work/$cmd.bn3" --threads 2 --nproc 2 2>/dev/null || true
  same "$work/$cmd.bn1/checkpoint.safetensors" "$work/$cmd.bn2/checkpoint.safetensors"
  /usr/bin/python3 "$here/lib/compare_weights.py" "$work/$cmd.bn1/checkpoint.safetensors" \
    "$work/$cmd.bn3/checkpoint.safetensors" 1e-5 && fail "$cmd: per-rank BatchNorm statistics should differ" || true
done
expect_error "--sync-bn: has an effect only in data-parallel training" "$snn" train-ann $bn --sync-bn --out "$work/bn4"

# 3c. --dspike-adapt: the FDG coordinates split over 2 ranks and summed give 1 process's cosines and temperatures
ds="--dataset fmnist --arch mlp --T 2 --limit-train 384 --limit-test 100 --lr 0.05 --quiet --epochs 2 --batch-size 64
  --surrogate dspike --dspike-adapt --fdg-coords 64"
$T "$snn" train-snn $ds --out "$work/d1" --threads 1 --json "$work/d1.json"
$T "$snn" train-snn $ds --out "$work/d2" --threads 2 --nproc 2 --json "$work/d2.json"
same "$work/d1/checkpoint.safetensors" "$work/d2/checkpoint.safetensors"
/usr/bin/python3 - "$work" <<'PY' || fail "Dspike adaptation differs with 2 ranks"
import json, sys
w = sys.argv[1]
h1, h2 = (json.load(open(f"{w}/{n}.json"))["history"] for n in ("d1", "d2"))
for a, b in zip(h1, h2):
    a, b = a["dspike"], b["dspike"]
    assert a["b"] == b["b"] and a["coords"] == b["coords"] == 64, (a, b)
    assert all(abs(x - y) < 1e-5 for x, y in zip(a["cosine"], b["cosine"])), (a["cosine"], b["cosine"])
PY

# 4. a 2-rank run stopped after 13 steps (mid-epoch 2) resumes with 1 process to the uninterrupted result
$T "$snn" train-ann $ann --epochs 2 --batch-size 64 --out "$work/r" --threads 2 --nproc 2 --max-steps 13 \
  2> "$work/r.err" && fail "a run stopped by --max-steps must fail" || true
grep -q "resume with --resume" "$work/r.err" || { cat "$work/r.err"; fail "stop message"; }
$T "$snn" train-ann $ann --epochs 2 --batch-size 64 --out "$work/r" --threads 1 --resume
same "$work/a1/checkpoint.safetensors" "$work/r/checkpoint.safetensors"
# and the other way: a 1-process checkpoint resumed by 2 ranks
$T "$snn" train-ann $ann --epochs 2 --batch-size 64 --out "$work/r2" --threads 1 --max-steps 7 2>/dev/null || true
$T "$snn" train-ann $ann --epochs 2 --batch-size 64 --out "$work/r2" --threads 2 --nproc 2 --resume
same "$work/a1/checkpoint.safetensors" "$work/r2/checkpoint.safetensors"

# 5. torchrun (its agent hosts the TCPStore; the workers join it under /worker/attempt_0)
port=$(free_port)
OMP_NUM_THREADS=1 $T /usr/bin/python3 "$here/lib/torchrun.py" --nproc_per_node 2 --master_addr 127.0.0.1 \
  --master_port "$port" --no_python "$snn" train-ann $ann --epochs 2 --batch-size 64 --out "$work/t" --threads 1 \
  --json "$work/t.json" > "$work/t.log" 2>&1 || { cat "$work/t.log"; fail "torchrun"; }
same "$work/a1/checkpoint.safetensors" "$work/t/checkpoint.safetensors"
[ "$(jget "$work/t.json" launch)" = torchrun ] || fail "torchrun launch mode not recorded"

echo "dist_equivalence: OK"
