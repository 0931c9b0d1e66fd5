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
"""
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

FMNIST = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # snnkit::dataset_preprocess("fmnist")


def save_safetensors(path, tensors):
    """Minimal safetensors writer: 8-byte LE header length, JSON header, raw little-endian float32."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
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
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests",
                                                                 "interop", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
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
