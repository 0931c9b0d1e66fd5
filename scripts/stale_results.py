#!/usr/bin/python3
"""Lists the result JSONs that were made before a later change to the code that makes results.

usage: scripts/stale_results.py [--fail] [--quiet] [--code DIR]... [PATH...]

For every *.json under the PATHs (files or folders; default docs/results), the commit that made it is
provenance.git_commit (written by snnkit into every JSON since provenance was added). A JSON without one (or
with "unknown", or a commit this repository does not hold) falls back to the last commit that changed the JSON
file itself, an upper bound on the code that made it ("no provenance; committed in <sha>"). The JSON is stale
when `git log <commit>..HEAD -- <code dirs>` is not empty (default code dirs: src/snnkit/convert and
src/snnkit/train); the line names the newest such change and how many there are. A JSON without provenance that
was never committed is stale too: nothing says which code made it.

Prints one line per JSON ("stale" or "fresh"; --quiet: stale ones only), then `stale: N of M result JSONs`.
Exit status 0, or 1 with --fail when any JSON is stale; 2 on bad use (not a git repository, no such path).
Runs git in the current directory's repository; paths are relative to the current directory.
Standard library only (/usr/bin/python3).
"""

import argparse
import json
import os
import re
import subprocess
import sys

DEFAULT_CODE = ["src/snnkit/convert", "src/snnkit/train"]


def die(message):
    print(f"stale_results: {message}", file=sys.stderr)
    sys.exit(2)


def git(*args):
    """Runs git; returns its stdout without the trailing newline, or None when git fails."""
    r = subprocess.run(["git", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout.rstrip("\n") if r.returncode == 0 else None


def result_files(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs.sort()
                files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".json")]
        elif os.path.isfile(p):
            files.append(p)
        else:
            die(f"{p}: no such file or folder")
    return files


def provenance_commit(path):
    """provenance.git_commit (with a note when the tree was dirty), or (None, reason) without a usable one."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return None, f"not readable as JSON ({e.__class__.__name__})"
    prov = doc.get("provenance") if isinstance(doc, dict) else None
    if not isinstance(prov, dict) or "git_commit" not in prov:
        return None, "no provenance"
    sha = prov["git_commit"]
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{40}", sha):
        return None, f"provenance git_commit {sha!r}"
    if git("cat-file", "-e", sha + "^{commit}") is None:
        return None, f"provenance git_commit {sha[:7]} is not in this repository"
    return sha, "dirty tree" if prov.get("git_dirty") is True else ""


def classify(path, code):
    """Returns (stale, line)."""
    sha, note = provenance_commit(path)
    if sha is not None:
        origin = f"made at {sha[:7]}" + (f" ({note}: the uncommitted changes are unknown)" if note else "")
    else:
        sha = git("log", "-1", "--format=%H", "--", path)
        if not sha:
            return True, f"{note}; never committed: which code made it is unknown"
        origin = f"{note}; committed in {sha[:7]}"
    changes = git("log", "--format=%h %s", f"{sha}..HEAD", "--", *code)
    if changes is None:
        die(f"git log {sha[:7]}..HEAD failed")
    changes = [c if len(c) <= 110 else c[:107] + "..." for c in changes.splitlines()]
    if not changes:
        return False, f"{origin}; no change under {' '.join(code)} since"
    return True, f"{origin}; {len(changes)} change(s) under {' '.join(code)} since, newest {changes[0]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", default=["docs/results"], help="result JSONs or folders (docs/results)")
    ap.add_argument("--code", action="append", help="code folder whose changes make a result stale (repeatable; "
                    "default src/snnkit/convert and src/snnkit/train)")
    ap.add_argument("--fail", action="store_true", help="exit 1 when any result JSON is stale")
    ap.add_argument("--quiet", action="store_true", help="print only the stale JSONs and the summary")
    args = ap.parse_args()
    if git("rev-parse", "--verify", "HEAD") is None:
        die("not inside a git repository with a commit")
    code = args.code or DEFAULT_CODE
    files = result_files(args.paths)
    stale = 0
    for path in files:
        is_stale, line = classify(path, code)
        stale += is_stale
        if is_stale or not args.quiet:
            print(f"{'stale' if is_stale else 'fresh'} {path}: {line}")
    print(f"stale: {stale} of {len(files)} result JSONs")
    return 1 if args.fail and stale else 0


if __name__ == "__main__":
    sys.exit(main())
