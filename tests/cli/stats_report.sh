#!/usr/bin/env bash
# CLI test of `snnkit stats`, `snnkit eval --stats` and `snnkit report` on a small Fashion-MNIST model:
# the MAC totals against hand counts, the SOPs of stats and eval --stats agreeing (same images, same
# run), the energy formula, Poisson input, the charts of a report, and the errors.
# usage: stats_report.sh SNNKIT_BINARY BUILD_DIR
set -euo pipefail
snn=$1
work=$2/tmp_cli_stats_report
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3

"$snn" train-ann --dataset fmnist --arch cnn --epochs 1 --batch-size 64 --lr 0.05 --limit-train 2000 \
  --limit-test 200 --stats-samples 256 --out "$work/ann" --json "$work/ann.json" --quiet --threads 2 > /dev/null
$py - "$work/ann.json" <<'PY' || fail "train-ann JSON: images and training configuration"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["train_samples"] == 2000 and r["test_samples"] == 200, r
assert r["train"]["batch_size"] == 64 and r["train"]["lr"] == 0.05 and r["train"]["optimizer"] == "sgd", r["train"]
assert r["train"]["dropout"] == 0.3, r["train"]  # the zoo cnn's default p, not the flag's "-1 = default"
PY
"$snn" convert --model "$work/ann" --T 4 --out "$work/snn" --json "$work/conv.json" --quiet
"$snn" stats --model "$work/snn" --limit 100 --json "$work/stats.json" --quiet --threads 2 > "$work/stats.txt"
"$snn" eval --model "$work/snn" --T 4 --limit 100 --error-samples 32 --stats --json "$work/eval.json" --quiet \
  --threads 2 > "$work/eval.txt"
"$snn" eval --model "$work/snn" --T 4 --limit 100 --error-samples 32 --json "$work/eval_plain.json" --quiet \
  --threads 2 > /dev/null
"$snn" eval --model "$work/snn" --T 32 --limit 200 --error-samples 8 --encoding poisson --json "$work/eval_poisson.json" \
  --quiet --threads 2 > /dev/null
"$snn" stats --model "$work/snn" --limit 100 --encoding poisson --e-ac 1 --e-mac 10 --json "$work/poisson.json" \
  --quiet --threads 2 > /dev/null
"$snn" stats --arch vgg16 --json "$work/vgg.json" > /dev/null
"$snn" stats --arch resnet20-he --json "$work/resnet.json" > /dev/null
"$snn" stats --model "$work/ann" --json "$work/ann_stats.json" > /dev/null

$py - "$work" <<'PY'
import json, sys
w = sys.argv[1]
ld = lambda n: json.load(open(f"{w}/{n}"))
st, ev, po = ld("stats.json"), ld("eval.json"), ld("poisson.json")
assert st["command"] == "stats" and st["T"] == 4 and st["samples"] == 100, st  # T: the model's own
s = st["stats"]
# zoo cnn on 28x28: conv1 1->16 at 28x28, conv2 16->64 at 14x14 (3x3), fc1 3136->256, fc2 256->10
macs = {"conv1": 16*28*28*9, "conv2": 64*14*14*9*16, "fc1": 3136*256, "fc2": 2560}
assert {l["layer"]: l["ann_macs"] for l in s["layers"]} == macs, s["layers"]
assert s["totals"]["ann_macs"] == sum(macs.values()) == 2724608
l = {x["layer"]: x for x in s["layers"]}
assert l["conv1"]["input"] == "analog" and l["conv1"]["snn_macs"] == macs["conv1"] and l["conv1"]["sops"] == 0
assert all(l[k]["input"] == "spikes" for k in ("conv2", "fc1", "fc2")) and l["conv2"]["sops"] > 0, s["layers"]
# a spike into fc2 reaches its 10 outputs; into fc1 (through the 2x2 pool) 256
n = {x["layer"]: x for x in s["neurons"]}
assert abs(l["fc2"]["sops"] - 10 * n["fc1.relu"]["spikes"]) < 1e-6 * l["fc2"]["sops"] + 1e-9
assert abs(l["fc1"]["sops"] - 256 * n["conv2.relu"]["spikes"]) < 1e-6 * l["fc1"]["sops"]
t = s["totals"]
assert abs(t["snn_energy_pj"] - (0.9 * t["sops"] + 4.6 * t["snn_macs"])) < 1e-6 * t["snn_energy_pj"]
assert abs(t["ann_energy_pj"] - 4.6 * t["ann_macs"]) < 1e-6 * t["ann_energy_pj"]
# eval --stats: the same figures from the accuracy run, the same firing rates in its table as in the stats,
# and the same table and accuracy as eval without --stats (which counts the spikes itself)
pl_ev = ld("eval_plain.json")
assert pl_ev["accuracy"] == ev["accuracy"], (pl_ev["accuracy"], ev["accuracy"])
assert [l["layer"] for l in pl_ev["layers"]] == [l["layer"] for l in ev["layers"]], (pl_ev["layers"], ev["layers"])
for a, b in zip(pl_ev["layers"], ev["layers"]):
    assert abs(a["firing_rate"] - b["firing_rate"]) < 1e-12 and abs(a["conversion_mse"] - b["conversion_mse"]) < 1e-12, (a, b)
# Poisson input of a model trained on normalised images reaches its ANN at T = 32 (the spikes are drawn
# from the raw intensities and normalised like the images; drawing them from the normalised values gave 20 %
# for an ANN at 74 %)
evp = ld("eval_poisson.json")
assert evp["encoding"] == "poisson" and evp["accuracy"] >= evp["ann_accuracy"] - 8, (evp["accuracy"], evp["ann_accuracy"])
e = ev["stats"]
assert abs(e["totals"]["sops"] - t["sops"]) < 1e-9 * t["sops"], (e["totals"], t)
for a, b in zip(ev["layers"], e["neurons"]):
    assert a["layer"] == b["layer"] and abs(a["firing_rate"] - b["firing_rate"]) < 1e-12, (a, b)
assert ev["accuracy_per_t"][-1] == ev["accuracy"] and "ann_accuracy" in ev
# Poisson input: the first layer receives spikes (SOPs, no MACs); energy with the given constants
p = po["stats"]
pl = {x["layer"]: x for x in p["layers"]}
assert pl["conv1"]["input"] == "spikes" and pl["conv1"]["sops"] > 0 and p["totals"]["snn_macs"] == 0, pl["conv1"]
assert abs(p["totals"]["snn_energy_pj"] - p["totals"]["sops"]) < 1e-6 * p["totals"]["sops"]
assert p["energy_pj_per_op"] == {"ac": 1.0, "mac": 10.0}
assert ld("vgg.json")["stats"]["totals"]["ann_macs"] == 313201664
assert ld("resnet.json")["stats"]["totals"]["ann_macs"] == 40813184
assert ld("ann_stats.json")["stats"]["kind"] == "ann"
print("stats ok: SOPs %.0f, ANN MACs %d, ANN/SNN energy %.2f" % (t["sops"], t["ann_macs"], t["ann_to_snn_energy"]))
PY
grep -q "ANN/SNN" "$work/eval.txt" || fail "eval --stats prints no energy line"
grep -q "^fc2 " "$work/stats.txt" || fail "stats table lacks fc2"

# The report: every chart it lists is a PNG linked from index.md.
"$snn" report "$work/ann.json" "$work/conv.json" "$work/eval.json" "$work/stats.json" \
  "$here/../stats/fixtures/train_snn_dspike.json" --out "$work/report" > "$work/report.txt"
n=0
while read -r png; do
  [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$png is not a PNG"
  grep -q "($(basename "$png"))" "$work/report/index.md" || fail "index.md does not link $png"
  n=$((n + 1))
done < <(grep '\.png$' "$work/report.txt" | sed 's/^ *//')
[ "$n" -ge 8 ] || fail "only $n charts"
for f in accuracy_vs_t firing_rate conversion_error; do
  [ -f "$work/report/$f.png" ] || fail "no $f.png"
done
ls "$work/report"/dspike_*.png > /dev/null || fail "no Dspike chart"
grep -q "| t=1 | t=2 | t=4 |" "$work/report/index.md" || fail "no accuracy table"

expect_error() {
  local want=$1; shift
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  [ $rc -ne 0 ] || fail "no error for: $*"
  grep -q -- "$want" "$work/err" || { cat "$work/err"; fail "error for '$*' lacks '$want'"; }
}
expect_error "not found (install gnuplot" env PATH=/nonexistent "$snn" report "$work/eval.json" --out "$work/r2"
[ ! -e "$work/r2/index.md" ] || fail "a report was written without gnuplot"
echo '{"command": "train-dog"}' > "$work/bad.json"
expect_error "bad.json: unknown command 'train-dog'" "$snn" report "$work/bad.json" --out "$work/r3"
expect_error "give either --model DIR or --arch NAME" "$snn" stats
expect_error "unknown architecture" "$snn" stats --arch nope
expect_error "--input: has an effect only with --arch" "$snn" stats --model "$work/snn" --input 1x28x28
echo "stats_report.sh: all checks passed ($n charts)"
