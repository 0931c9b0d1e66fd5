"""Reads the "RESULT <key> <tag> <value>" lines that the bench programs print (one per figure and round)."""
import statistics


def read_results(path):
    """-> (runs, medians): runs[(key, tag)] = the values in file order, medians[(key, tag)] = their median."""
    runs = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 4 and p[0] == "RESULT":
                runs.setdefault((p[1], p[2]), []).append(float(p[3]))
    return runs, {k: statistics.median(v) for k, v in runs.items()}
