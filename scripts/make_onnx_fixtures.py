#!/usr/bin/python3
"""Exports the ONNX fixtures of tests/interop (run with Debian's /usr/bin/python3: torch 1.13 + onnx 1.12).

    /usr/bin/python3 scripts/make_onnx_fixtures.py [OUT_DIR]   (default tests/interop/fixtures)

Writes, for each network, NAME.onnx and NAME.io.safetensors (tensors "input": a fixed input batch and
"output": PyTorch's output on it, float32), so the C++ tests compare snnkit's import against PyTorch
without Python. Also writes the malformed / unsupported models the error tests read.

  small_cnn_op9    conv, ReLU, max-pool, Clip (ReLU6, attribute form), Reshape-as-flatten, Gemm, MatMul+Add
  small_cnn_op11   the same network at opset 11 (Clip min/max as inputs), dynamic batch
  vgg_bn_op13      VGG-like with BatchNorm (2D and 1D), Pad + avg-pool, Flatten, dynamic batch; 28x28x1,
                   10 classes, trained for one epoch on Fashion-MNIST when the IDX files are present
  resnet_op17      ResNet-like: BN, residual adds, strided 1x1 shortcut, grouped conv, GlobalAveragePool
  bad_sigmoid      unsupported op (Sigmoid)
  bad_dynamic_hw   dynamic height / width in the graph input
  bad_missing_init a Conv whose weight initializer was removed
  identity_dropout_op9  built with onnx.helper: Identity, Gemm (alpha, beta, transB = 0), Dropout, Relu, Gemm;
                   output computed with numpy
  bad_opset8       a model declaring opset 8
  bad_ceil_mode    MaxPool with ceil_mode = 1
  bad_negative_pad, bad_reshape_allowzero, bad_shape_start  Pad cropping (opset 13), Reshape allowzero = 1
                   (opset 14), Shape with start (opset 15)
  view_flatten_op9, view_flatten_op13  x.view(x.size(0), -1) with a dynamic batch (Shape/Gather/Unsqueeze/Concat)

    /usr/bin/python3 scripts/make_onnx_fixtures.py --extra-only [OUT_DIR]   only the onnx.helper models
    VENV/bin/python scripts/make_onnx_fixtures.py --nir [OUT_DIR]   (PyPI nir + h5py + numpy, no torch) writes
        foreign_lif.nir: a NIR graph written by the nir package (Affine -> LIF -> Affine -> IF -> Output),
        and foreign_fixed_strings.nir: the same with fixed-length HDF5 strings (names, types)
    /usr/bin/python3 scripts/make_onnx_fixtures.py --nir-fixed-strings [OUT_DIR]   (h5py + numpy only: Debian's
        python3-h5py) writes only foreign_fixed_strings.nir, from foreign_lif.nir
"""
import gzip
import json
import os
import struct
import sys
import time

import numpy as np

def write_foreign_nir(out_dir):
    """A NIR graph as another toolkit writes it (the PyPI nir package): Affine -> LIF -> Affine -> IF."""
    import nir
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((5, 4)).astype(np.float32)
    b1 = rng.standard_normal((5,)).astype(np.float32) * 0.1
    w2 = rng.standard_normal((3, 5)).astype(np.float32)
    b2 = np.zeros((3,), np.float32)
    tau = np.full((5,), 4.0, np.float32)
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([4])),
        "fc1": nir.Affine(weight=w1, bias=b1),
        "lif1": nir.LIF(tau=tau, r=tau.copy(), v_leak=np.zeros(5, np.float32), v_threshold=np.full(5, 0.8, np.float32),
                        v_reset=np.zeros(5, np.float32)),
        "fc2": nir.Affine(weight=w2, bias=b2),
        "if2": nir.IF(r=np.ones(3, np.float32), v_threshold=np.array([0.5, 1.0, 1.5], np.float32),
                      v_reset=np.zeros(3, np.float32)),
        "output": nir.Output(output_type=np.array([3])),
    }, edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "if2"), ("if2", "output")])
    nir.write(os.path.join(out_dir, "foreign_lif.nir"), g)
    print("foreign_lif.nir written by nir", nir.__version__ if hasattr(nir, "__version__") else "")


def write_fixed_string_nir(out_dir):
    """foreign_lif.nir with its strings stored as fixed-length HDF5 strings, as writers of numpy 'S' arrays
    make them: the edge names null-padded ASCII, exactly as wide as the longest ("output" fills all 6 bytes,
    no terminator), "Affine" as full-width ASCII and "LIF" as full-width UTF-8."""
    import h5py
    src = os.path.join(out_dir, "foreign_lif.nir")
    dst = os.path.join(out_dir, "foreign_fixed_strings.nir")
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for k in f:
            f.copy(k, g)
        edges = np.array([[a.decode() if isinstance(a, bytes) else a for a in e] for e in f["node/edges"][()]])
        del g["node/edges"]
        g["node/edges"] = edges.astype("S6")
        for n in ("fc1", "fc2"):
            del g[f"node/nodes/{n}/type"]
            g[f"node/nodes/{n}/type"] = np.array(b"Affine", dtype="S6")
        del g["node/nodes/lif1/type"]
        g.create_dataset("node/nodes/lif1/type", data="LIF", dtype=h5py.string_dtype("utf-8", 3))
    print("foreign_fixed_strings.nir written by h5py", h5py.__version__)


if __name__ == "__main__" and ("--nir" in sys.argv or "--nir-fixed-strings" in sys.argv):  # no torch / onnx
    _args = [a for a in sys.argv[1:] if not a.startswith("--")]
    _out = _args[0] if _args else os.path.join(os.path.dirname(__file__), "..", "tests", "interop", "fixtures")
    if "--nir" in sys.argv:
        write_foreign_nir(_out)
    write_fixed_string_nir(_out)
    sys.exit(0)

import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # snnkit::dataset_preprocess("fmnist")


def save_safetensors(path, tensors):
    """Minimal safetensors writer: 8-byte LE header length, JSON header, raw little-endian float32."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray((t if isinstance(t, np.ndarray) else t.detach().cpu().numpy()).astype("<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_helper_models(out_dir):
    """Models built node by node with onnx.helper (forms torch.onnx.export does not produce)."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((6, 5)).astype(np.float32)   # Gemm with transB = 0: B is [in, out]
    c1 = rng.standard_normal((5,)).astype(np.float32)
    w2 = rng.standard_normal((3, 5)).astype(np.float32)   # transB = 1
    c2 = rng.standard_normal((1, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Identity", ["x"], ["x1"], name="id"),
        helper.make_node("Gemm", ["x1", "w1", "c1"], ["h"], name="fc1", alpha=0.5, beta=2.0),
        helper.make_node("Dropout", ["h"], ["hd"], name="drop"),
        helper.make_node("Relu", ["hd"], ["hr"], name="relu"),
        helper.make_node("Gemm", ["hr", "w2", "c2"], ["y"], name="fc2", transB=1),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (c1, "c1"), (w2, "w2"), (c2, "c2"))]
    g = helper.make_graph(nodes, "identity_dropout", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(out_dir, "identity_dropout_op9.onnx"))
    x = rng.standard_normal((4, 6)).astype(np.float32)
    h = np.maximum(0.5 * (x @ w1) + 2.0 * c1, 0)
    save_safetensors(os.path.join(out_dir, "identity_dropout_op9.io.safetensors"),
                        {"input": x, "output": (h @ w2.T + c2).astype(np.float32)})

    m8 = helper.make_model(g, opset_imports=[helper.make_opsetid("", 8)])
    onnx.save(m8, os.path.join(out_dir, "bad_opset8.onnx"))

    wc = numpy_helper.from_array(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "conv.weight")
    gp = helper.make_graph([helper.make_node("Conv", ["x", "conv.weight"], ["c"], name="conv", kernel_shape=[3, 3]),
                            helper.make_node("MaxPool", ["c"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2],
                                             ceil_mode=1)],
                           "ceil", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 9, 9])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], [wc])
    onnx.save(helper.make_model(gp, opset_imports=[helper.make_opsetid("", 13)]),
              os.path.join(out_dir, "bad_ceil_mode.onnx"))
    # Forms of later opsets that change a supported op's meaning: refused, not misread.
    pads = numpy_helper.from_array(np.array([0, 0, -1, -1, 0, 0, -1, -1], dtype=np.int64), "pads")
    gn = helper.make_graph([helper.make_node("Pad", ["x", "pads"], ["xp"], name="crop"),
                            helper.make_node("Conv", ["xp", "conv.weight"], ["y"], name="conv", kernel_shape=[3, 3],
                                             pads=[1, 1, 1, 1])],
                           "negative_pad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 9, 9])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 7, 7])], [wc, pads])
    onnx.save(helper.make_model(gn, opset_imports=[helper.make_opsetid("", 13)]),
              os.path.join(out_dir, "bad_negative_pad.onnx"))
    shape = numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "shape")
    gz = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"], name="flat", allowzero=1)],
                           "allowzero", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 4, 4])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])], [shape])
    onnx.save(helper.make_model(gz, opset_imports=[helper.make_opsetid("", 14)]),
              os.path.join(out_dir, "bad_reshape_allowzero.onnx"))
    gs = helper.make_graph([helper.make_node("Shape", ["x"], ["s"], name="shape", start=1),
                            helper.make_node("Relu", ["x"], ["y"], name="relu")],
                           "shape_start", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 4, 4])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, 4, 4])])
    onnx.save(helper.make_model(gs, opset_imports=[helper.make_opsetid("", 15)]),
              os.path.join(out_dir, "bad_shape_start.onnx"))
    # x.view(x.size(0), -1) with a dynamic batch: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
    class ViewNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 14 * 14, 10)

        def forward(self, x):
            x = F.avg_pool2d(torch.relu(self.conv(x)), 2)
            return self.fc(x.view(x.size(0), -1))

    torch.manual_seed(2)
    view = ViewNet()
    xv = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    for opset in (9, 13):
        export(view, f"view_flatten_op{opset}", opset, xv, out_dir, {"input": {0: "n"}, "output": {0: "n"}})
    print("helper models written")


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2, padding=1, bias=False)
        self.fc1 = nn.Linear(8 * 7 * 7, 32)
        self.w2 = nn.Parameter(torch.randn(32, 10) * 0.2)  # x @ w2 + b2 -> MatMul + Add
        self.b2 = nn.Parameter(torch.randn(10) * 0.1)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2)                      # 14x14
        x = F.relu6(self.conv2(x))                  # Clip(0, 6), 7x7
        x = x.reshape(-1, 8 * 7 * 7)                # Reshape used as flatten
        x = F.hardtanh(self.fc1(x), 0.0, 2.5)       # Clip(0, 2.5)
        return x @ self.w2 + self.b2


class VGGBN(nn.Module):
    def __init__(self):
        super().__init__()

        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

        self.features = nn.Sequential(*block(1, 16), *block(16, 16), nn.AvgPool2d(2),
                                      *block(16, 32), *block(32, 32), nn.AvgPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.BatchNorm1d(64), nn.ReLU(),
                                        nn.Dropout(0.2), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class Block(nn.Module):
    def __init__(self, i, o, stride, groups=1):
        super().__init__()
        self.c1 = nn.Conv2d(i, o, 3, stride=stride, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(o)
        self.c2 = nn.Conv2d(o, o, 3, padding=1, groups=groups, bias=False)
        self.b2 = nn.BatchNorm2d(o)
        self.short = None
        if stride != 1 or i != o:
            self.short = nn.Sequential(nn.Conv2d(i, o, 1, stride=stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.layer1 = Block(8, 8, 1, groups=2)
        self.layer2 = Block(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def randomise_bn(model, gen):
    """Non-trivial BN statistics and affine parameters, so the import of every BN field is tested."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.2)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, rows, cols)
    return np.frombuffer(data, np.uint8, offset=8)


def train_one_epoch(model, seconds_budget=100.0):
    """One epoch (or as much of it as fits the budget) of SGD on Fashion-MNIST; returns steps taken."""
    x = torch.from_numpy(read_idx(os.path.join(FMNIST, "train-images-idx3-ubyte.gz")).copy()).float()
    y = torch.from_numpy(read_idx(os.path.join(FMNIST, "train-labels-idx1-ubyte.gz")).copy()).long()
    x = (x / 255.0 - MEAN) / STD
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    model.train()
    start, steps = time.time(), 0
    for s in range(0, x.shape[0], 128):
        idx = perm[s:s + 128]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        if time.time() - start > seconds_budget:
            break
    model.eval()
    print(f"  trained {steps} steps in {time.time() - start:.0f} s, last loss {loss.item():.3f}")
    return steps


def export(model, name, opset, x, out_dir, dynamic=None):
    model.eval()
    path = os.path.join(out_dir, name + ".onnx")
    # PRESERVE keeps BatchNormalization nodes (EVAL would fold them into the convolutions).
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"], output_names=["output"],
                      dynamic_axes=dynamic, do_constant_folding=True,
                      training=torch.onnx.TrainingMode.PRESERVE)
    with torch.no_grad():
        y = model(x)
    save_safetensors(os.path.join(out_dir, name + ".io.safetensors"), {"input": x, "output": y})
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print(f"{name}: opset {opset}, {os.path.getsize(path)} bytes, ops {ops}")
    return path


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out_dir = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "tests", "interop", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    write_helper_models(out_dir)
    if "--extra-only" in sys.argv:
        return
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    batch = {0: "batch"}

    x = torch.randn(2, 1, 28, 28, generator=gen)
    small = SmallCNN()
    export(small, "small_cnn_op9", 9, x, out_dir)
    export(small, "small_cnn_op11", 11, x, out_dir, {"input": batch, "output": batch})

    vgg = VGGBN()
    randomise_bn(vgg, gen)
    if os.path.exists(os.path.join(FMNIST, "train-images-idx3-ubyte.gz")):
        train_one_epoch(vgg)
    export(vgg, "vgg_bn_op13", 13, torch.randn(4, 1, 28, 28, generator=gen), out_dir,
           {"input": batch, "output": batch})

    res = ResNetLike()
    randomise_bn(res, gen)
    export(res, "resnet_op17", 17, torch.randn(3, 1, 28, 28, generator=gen), out_dir,
           {"input": batch, "output": batch})

    # Unsupported / malformed models.
    class Sig(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return torch.sigmoid(self.fc(torch.flatten(x, 1)))

    torch.onnx.export(Sig(), torch.randn(1, 1, 2, 2), os.path.join(out_dir, "bad_sigmoid.onnx"), opset_version=13,
                      input_names=["input"], output_names=["output"])
    torch.onnx.export(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), torch.randn(1, 1, 8, 8),
                      os.path.join(out_dir, "bad_dynamic_hw.onnx"), opset_version=13, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}})
    m = onnx.load(os.path.join(out_dir, "small_cnn_op9.onnx"))
    conv_weight = m.graph.node[0].input[1]
    kept = [t for t in m.graph.initializer if t.name != conv_weight]
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    onnx.save(m, os.path.join(out_dir, "bad_missing_init.onnx"))
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"fixtures: {total} bytes in {out_dir}")


if __name__ == "__main__":
    main()
