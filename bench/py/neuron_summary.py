#!/usr/bin/env python3
"""The summary of bench/run_neuron.sh: reads the raw output of its rounds and prints, headline first,

  1. the fused kernel against the strongest baseline under equal conditions (the fastest contender that is
     not snnkit, by median; computed per shape, not assumed);
  2. every contender under equal conditions: median [min, max] over all timed runs of all rounds;
  3. beside it, labelled: what a Python user gets by default (the Python contenders with glibc's defaults);
  4. memory and bandwidth; 5. the targets, each [ok] or [MISSED: <exact value> <op> <target>].

Input lines: "TIMES <key> <tag> <ms>..." (every timed run), "RESULT <key> <tag> <value>" (medians over the
rounds), "INFO <name> <version>". Keys of the glibc-defaults runs start with "def_". With --json FILE, writes
the figures with a "provenance" object (the PROV_* environment variables set by run_neuron.sh).
"""
import argparse
import json
import os
import statistics
import sys

SHAPES = {"T8": "[8,128,64,16,16]", "T32": "[32,32,64,16,16]"}
FUSED = "fused_ms"
# Every contender: key, label, whether it is a baseline (not snnkit).
CONTENDERS = [
    ("fused_ms", "snnkit fused kernel", False),
    ("ref_ms", "snnkit per-step ATen reference (a)", False),
    ("py_index_ms", "Python x[t] loop (b)", True),
    ("py_unbind_ms", "Python unbind loop", True),
    ("py_unbind_addsub_ms", "Python unbind loop, add/sub alpha", True),
    ("spikingjelly_ms", "SpikingJelly LIFNode (multi-step, torch)", True),
    ("snntorch_ms", "snnTorch Leaky (stepped over T)", True),
]
LABEL = {k: lab for k, lab, _ in CONTENDERS}
NOTES = ["(a) snnkit's own C++ per-step reference (its test oracle): shown, not a baseline",
         "(b) what the peers' torch backends do (SpikingJelly torch backend / snnTorch step loop): index x[t],"
         " stack the spikes"]


def exact(value, target, met, higher_is_better):
    """value to 2 decimals, or more where 2 would round a missed target onto (or past) the target."""
    for d in range(2, 7):
        text = f"{value:.{d}f}"
        shown = float(text)
        if met or (shown < target if higher_is_better else shown > target):
            return text
    return repr(value)


def read(path):
    times, results, info = {}, {}, {}
    for line in open(path):
        p = line.split()
        if len(p) >= 4 and p[0] == "TIMES":
            times.setdefault((p[1], p[2]), []).extend(float(v) for v in p[3:])
        elif len(p) == 4 and p[0] == "RESULT":
            results.setdefault((p[1], p[2]), []).append(float(p[3]))
        elif len(p) >= 3 and p[0] == "INFO":
            info[p[1]] = " ".join(p[2:])
    stats = {k: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v), "runs": len(v)}
             for k, v in times.items()}
    medians = {k: statistics.median(v) for k, v in results.items()}
    return stats, medians, info


def table(stats, keys, prefix=""):
    """Rows of median [min, max] per shape for the contenders in keys (looked up as prefix + key; the fused
    kernel always unprefixed) and the ratio to the fused kernel's median."""
    out = {}
    print(f"  {'contender':<42}{'T8 ms: median [min, max]':>30}{'T32 ms: median [min, max]':>30}{'x fused':>16}")
    for key, label, _ in CONTENDERS:
        if key not in keys:
            continue
        cells, ratios = [], []
        for tag in SHAPES:
            s = stats.get(((prefix if key != FUSED else "") + key, tag))
            f = stats.get((FUSED, tag))
            if s is None:
                cells.append(f"{'-':>30}")
                ratios.append("-")
                continue
            cells.append(f"{s['median_ms']:>10.1f} [{s['min_ms']:.1f}, {s['max_ms']:.1f}]".rjust(30))
            ratio = s["median_ms"] / f["median_ms"] if f else float("nan")
            ratios.append(f"{ratio:.2f}")
            out.setdefault(tag, {})[key] = dict(s, ratio_to_fused=ratio)
        print(f"  {label:<42}{''.join(cells)}{' / '.join(ratios):>16}")
    for note in NOTES:
        print(f"  {note}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    stats, med, info = read(a.log)
    env = os.environ
    if any((FUSED, t) not in stats for t in SHAPES):
        sys.exit(f"neuron_summary.py: no fused-kernel timings in {a.log} (bench_neuron failed?)")
    cond = (f"{env.get('PROV_THREADS', '?')} threads, {env.get('BENCH_WARMUP', '?')} warm-up + "
            f"{env.get('BENCH_REPS', '?')} timed runs per process and contender, {env.get('BENCH_ROUNDS', '?')} "
            f"alternating rounds")
    targets = []

    def target(name, value, goal, unit="x", higher_is_better=True):
        """Records a target; returns its mark: "ok" or "MISSED: <exact value> < <goal>"."""
        met = value >= goal if higher_is_better else value <= goal
        shown = exact(value, goal, met, higher_is_better) + unit
        mark = "ok" if met else f"MISSED: {shown} {'<' if higher_is_better else '>'} {goal:g}{unit}"
        targets.append({"target": name, "value": value, "goal": goal, "met": met, "line": f"[{mark}] {name}: {shown}"})
        return mark

    # 1. Headline: the strongest baseline per shape, equal conditions.
    print("== HEADLINE: LIF fwd+bwd (alpha 0.5, soft reset, atan), snnkit's fused kernel against the strongest "
          "baseline, equal conditions ==")
    headline = {}
    for tag, shape in SHAPES.items():
        base = [(stats[(k, tag)]["median_ms"], k) for k, _, is_base in CONTENDERS if is_base and (k, tag) in stats]
        f = stats[(FUSED, tag)]["median_ms"]
        if not base:
            print(f"  x {shape}: no baseline measured")
            continue
        b_ms, b_key = min(base)
        ratio = b_ms / f
        mark = target(f"{tag}: fused >= 4x the strongest baseline ({LABEL[b_key]})", ratio, 4)
        print(f"  x {shape:<18} fused {f:.1f} ms vs {LABEL[b_key]} {b_ms:.1f} ms: "
              f"{exact(ratio, 4, ratio >= 4, True)}x faster  [{mark}]")
        headline[tag] = {"strongest_baseline": b_key, "baseline_median_ms": b_ms, "fused_median_ms": f,
                         "ratio": ratio}
    print(f"  equal conditions: {cond};")
    print("  every contender a process of its own started by run_neuron.sh with the same environment,")
    print(f"  GLIBC_TUNABLES={env.get('BENCH_TUNED', '?')}")
    print("  (snnkit::runtime_init's mallopt values; bench_neuron runs with --default-malloc, so it takes them from")
    print("  the same place). Strongest baseline = the fastest contender that is not snnkit, by median, per shape.")
    print()

    # 2. Every contender, equal conditions.
    print(f"== Every contender, equal conditions (ms over all timed runs of all rounds; 'x fused' = median / fused "
          f"median, T8 / T32) ==")
    equal = table(stats, {k for k, _ in stats})
    print()
    # 3. Beside it: Python with glibc's defaults.
    print("== Beside it, labelled: what a Python user gets by default (the Python contenders in processes with "
          "glibc's default malloc, against the same fused runs) ==")
    defaults = table(stats, {FUSED} | {k[len("def_"):] for k, _ in stats if k.startswith("def_")}, prefix="def_")
    print()

    # 4. Memory and bandwidth (medians over the rounds).
    print("memory, peak extra during fwd+bwd (counting c10 CPU allocator; x and g not counted):")
    memory, bandwidth = {}, {}
    for tag, shape in SHAPES.items():
        fp, rp = med[("fused_peak_mib", tag)], med[("ref_peak_mib", tag)]
        fb, rb = med[("fused_beyond_mib", tag)], med[("ref_beyond_mib", tag)]
        print(f"  x {shape:<18} total: fused {fp:.0f} MiB / reference {rp:.0f} MiB = {fp / rp:.2f};"
              f"  beyond spikes+v+x.grad: fused {fb:.1f} MiB / reference {rb:.1f} MiB = {fb / rb:.3f}")
        memory[tag] = {"fused_peak_mib": fp, "ref_peak_mib": rp, "fused_beyond_mib": fb, "ref_beyond_mib": rb}
    print("bandwidth of the fused kernel alone (fwd reads x, writes spikes; bwd reads x and dL/dspikes, writes dL/dx)")
    print("against a plain 2-array stream copy run interleaved with it (read + write counted):")
    for tag, shape in SHAPES.items():
        k, copy = med[("kernel_gbps", tag)], med[("copy_gbps", tag)]
        print(f"  x {shape:<18} kernel fwd+bwd {k:.2f} GB/s, copy {copy:.2f} GB/s: {100 * k / copy:.0f}% of copy")
        bandwidth[tag] = {"kernel_gbps": k, "copy_gbps": copy}
    print()

    # 5. Targets (equal conditions); the headline ones were added above.
    for tag in SHAPES:
        f = stats[(FUSED, tag)]["median_ms"]
        if ("py_index_ms", tag) in stats:
            target(f"{tag}: fused >= 10x the Python x[t] loop", stats[("py_index_ms", tag)]["median_ms"] / f, 10)
        for key, name in (("spikingjelly_ms", "SpikingJelly"), ("snntorch_ms", "snnTorch")):
            if (key, tag) in stats:
                target(f"{tag}: fused faster than {name}", stats[(key, tag)]["median_ms"] / f, 1)
        m = memory[tag]
        target(f"{tag}: extra memory beyond the outputs <= 1/2 of the ATen reference's",
               m["fused_beyond_mib"] / m["ref_beyond_mib"], 0.5, unit="", higher_is_better=False)
        target(f"{tag}: kernel bandwidth >= 0.5 of the stream copy",
               bandwidth[tag]["kernel_gbps"] / bandwidth[tag]["copy_gbps"], 0.5, unit="")
    print("targets (equal conditions):")
    for t in targets:
        print(f"  {t['line']}")
    print(f"load average before: {env.get('LOAD_BEFORE', '?')}, after: {env.get('LOAD_AFTER', '?')} on "
          f"{os.cpu_count()} CPUs (shared machine: other work skews all timings)")

    if a.json:
        prov = {
            "snnkit_version": env.get("PROV_VERSION", "unknown"),
            "git_commit": env.get("PROV_COMMIT", "unknown"),
            "git_dirty": env.get("PROV_DIRTY") == "true",
            "build_type": env.get("PROV_BUILD_TYPE", "unknown"),
            "libtorch": info.get("libtorch", "unknown"),
            "python_torch": info.get("torch", "unknown"),
            "toolkits": {k: v for k, v in info.items() if k in ("spikingjelly", "snntorch")},
            "threads": int(env.get("PROV_THREADS", "0")),
            "command": env.get("PROV_COMMAND", ""),
            "date": env.get("PROV_DATE", ""),
            "data": "synthetic: shapes x [8,128,64,16,16] and [32,32,64,16,16] (16.8 M neuron-steps each), "
                    "x = 0.6 randn + 0.4, upstream gradient g = randn, seed 0",
        }
        doc = {
            "provenance": prov,
            "conditions": {"warmup": int(env.get("BENCH_WARMUP", "0")), "reps": int(env.get("BENCH_REPS", "0")),
                           "rounds": int(env.get("BENCH_ROUNDS", "0")), "glibc_tunables": env.get("BENCH_TUNED", ""),
                           "load_before": env.get("LOAD_BEFORE", ""), "load_after": env.get("LOAD_AFTER", "")},
            "headline": headline,
            "equal_conditions": equal,
            "python_glibc_defaults": defaults,
            "memory": memory,
            "bandwidth": bandwidth,
            "targets": [{k: t[k] for k in ("target", "value", "goal", "met")} for t in targets],
        }
        tmp = a.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
