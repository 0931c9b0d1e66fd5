"""Largest absolute difference between the model.* tensors of two snnkit checkpoints or models (safetensors,
read here with numpy: an independent reader). usage: compare_weights.py A.safetensors B.safetensors [TOL]
prints "max_abs_diff X over N tensors" and exits 1 when X > TOL (default 1e-5) or the tensor sets differ."""
import json
import struct
import sys

import numpy as np

DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        a = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=DT[v["dtype"]]).reshape(v["shape"])
        out[k[len("model."):] if k.startswith("model.") else k] = a
    return {k: a for k, a in out.items() if not k.startswith("optim.")}


a, b = load(sys.argv[1]), load(sys.argv[2])
tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
if set(a) != set(b):
    print("tensor sets differ:", sorted(set(a) ^ set(b)))
    sys.exit(1)
d = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))) if a[k].size else 0.0 for k in a)
print(f"max_abs_diff {d:.3g} over {len(a)} tensors")
sys.exit(0 if d <= tol else 1)
