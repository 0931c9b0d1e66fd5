#!/usr/bin/env python3
"""Paired per-epoch table of two train-snn runs (fixed against adaptive Dspike, same seed and schedule).

usage: scripts/snn_pair_table.py FIXED_train_log.jsonl ADAPTIVE_train_log.jsonl
Prints a Markdown table: per epoch the fixed run's test %, the adaptive run's test %, the b it kept and its three
cosines (b - db, b, b + db), then how often and by how much the fixed run was ahead at equal epochs.
"""
import json
import sys


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    fixed, adapt = read(sys.argv[1]), read(sys.argv[2])
    print("| epoch | fixed: test % | adaptive: test % | adaptive: b kept | adaptive: cosines (b-db, b, b+db) |")
    print("|---|---|---|---|---|")
    for i in range(max(len(fixed), len(adapt))):
        f = f"{fixed[i]['test_accuracy']:.2f}" if i < len(fixed) else "-"
        if i < len(adapt) and "dspike" in adapt[i]:
            d = adapt[i]["dspike"]
            a, b = f"{adapt[i]['test_accuracy']:.2f}", f"{d['b']:g}"
            c = ", ".join(f"{x:.2f}" for x in d["cosine"])
        else:
            a = b = c = "-"
        print(f"| {i + 1} | {f} | {a} | {b} | {c} |")
    n = min(len(fixed), len(adapt))
    if n:
        gaps = [fixed[i]["test_accuracy"] - adapt[i]["test_accuracy"] for i in range(n)]
        ahead = sum(g > 0 for g in gaps)
        print(f"\nfixed ahead at {ahead} of {n} paired epochs; gap (fixed - adaptive) "
              f"from {min(gaps):.2f} to {max(gaps):.2f} points, mean {sum(gaps) / n:.2f}")


if __name__ == "__main__":
    main()
