#!/usr/bin/env bash
# CLI test of the "provenance" object in every result JSON (train-ann, convert, eval, stats, info,
# import-onnx is covered by its own test's files): the build's git commit and dirty flag against git itself,
# LibTorch, threads, the command line as given, the date, and each data split's identity, whose hash is
# recomputed here independently (FNV-1a 64 over the sorted relative paths, sizes and contents); and
# `snnkit report` printing it under the tables.
# usage: provenance.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$1
work=$2/tmp_cli_provenance
src=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work"; mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
py=/usr/bin/python3
data=/usr/share/datasets/fashion-mnist

"$snn" train-ann --dataset fmnist --arch cnn --epochs 1 --batch-size 64 --limit-train 512 --limit-test 100 \
  --stats-samples 64 --out "$work/ann" --json "$work/train.json" --quiet --threads 1 > /dev/null
"$snn" convert --model "$work/ann" --T 4 --out "$work/snn" --calib light --calib-samples 64 --grid 10 \
  --json "$work/convert.json" --quiet > /dev/null
"$snn" eval --model "$work/snn" --limit 50 --error-samples 8 --json "$work/eval.json" --quiet --threads 2 > /dev/null
"$snn" stats --model "$work/snn" --limit 50 --json "$work/stats.json" --quiet --threads 2 > /dev/null
"$snn" info "$work/snn" --json "$work/info.json" > /dev/null

$py - "$work" "$src" "$data" "$snn" <<'PY'
import json, os, re, subprocess, sys
work, src, data, snn = sys.argv[1:5]

def fnv(h, b):
    for c in b:
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h

def identity(path):  # the dataset directory's files, as the library should hash them
    files = sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs
                   if os.path.isfile(os.path.join(d, f)))
    h = 1469598103934665603
    total = 0
    for f in files:
        full = os.path.join(path, f)
        size = os.path.getsize(full)
        total += size
        h = fnv(h, f.encode() + b"\0")
        h = fnv(h, str(size).encode() + b"\0")
        with open(full, "rb") as fh:
            h = fnv(h, fh.read())
    return len(files), total, "fnv1a64:%016x" % h

try:
    head = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
except Exception:
    head = "unknown"
files, size, digest = identity(data)
expect = {
    "train": ("--json " + work + "/train.json", [("train", 512), ("test", 100)], 1),
    "convert": ("--json " + work + "/convert.json", [("train (calibration)", 64)], None),
    "eval": ("--json " + work + "/eval.json", [("test", 50)], 2),
    "stats": ("--json " + work + "/stats.json", [("test", 50)], 2),
    "info": ("--json " + work + "/info.json", [], None),
}
for name, (flag, splits, threads) in expect.items():
    p = json.load(open(f"{work}/{name}.json"))["provenance"]
    for k in ("snnkit_version", "git_commit", "git_dirty", "build_type", "libtorch", "threads", "command", "date", "data"):
        assert k in p, (name, k, p)
    assert p["git_commit"] == head, (name, p["git_commit"], head)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", p["libtorch"]), p["libtorch"]
    assert p["snnkit_version"] == "0.1.0" and p["build_type"], p
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", p["date"]), p["date"]
    assert p["command"].startswith(snn + " ") and p["command"].endswith(flag) or flag in p["command"], (name, p["command"])
    if threads is not None:
        assert p["threads"] == threads, (name, p["threads"])
    assert [(d["split"], d["images"]) for d in p["data"]] == splits, (name, p["data"])
    for d in p["data"]:
        assert d["dataset"] == "fmnist" and d["path"] == data, d
        assert (d["files"], d["bytes"], d["hash"]) == (files, size, digest), (name, d, files, size, digest)
print("provenance ok: commit", head[:12], "data", digest)
PY

# the report prints what made each run under its tables
"$snn" report "$work/train.json" "$work/convert.json" "$work/eval.json" --out "$work/report" > /dev/null
n=$(grep -c "^- made by: .* at commit \`" "$work/report/index.md") || true
[ "$n" -ge 3 ] || { cat "$work/report/index.md"; fail "report lacks the provenance lines ($n)"; }
grep -q "data fmnist test, 50 images, fnv1a64:" "$work/report/index.md" || fail "report lacks the eval's data identity"
echo "provenance.sh: all checks passed"
