"""snnkit.convert from PyTorch: a small CNN trained here on Fashion-MNIST converts at T = 8 with light calibration
to within 1 point of its own ANN on 2,000 test images; save / load round trip (and `snnkit eval` reads the saved
directory), run / stats, NIR export read back by the nir package, and each kind of bad input."""
import gzip
import json
import os
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn

import snnkit

FMNIST = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # snnkit's standard Fashion-MNIST normalisation (eval applies it to a saved model)
CLI = os.environ.get("SNNKIT_CLI", os.path.join(os.environ.get("SNNKIT_BUILD_DIR", "build"), "snnkit"))


def fmnist(split, n):
    """The first n images (normalised, [n, 1, 28, 28]) and labels of a Fashion-MNIST split."""
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(FMNIST, f"{prefix}-images-idx3-ubyte.gz"), "rb") as f:
        px = np.frombuffer(f.read(), np.uint8, offset=16, count=n * 784)
    with gzip.open(os.path.join(FMNIST, f"{prefix}-labels-idx1-ubyte.gz"), "rb") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8, count=n)
    x = torch.from_numpy(px.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
    return (x - MEAN) / STD, torch.from_numpy(y.astype(np.int64))


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def accuracy(scores, y):
    return (scores.argmax(1) == y).double().mean().item() * 100


@pytest.fixture(scope="module")
def random_snn():
    """An untrained CNN (seeded) converted without calibration: fast, for the API tests."""
    torch.manual_seed(1)
    m = small_cnn()
    x = torch.randn(32, 1, 28, 28)
    return snnkit.convert(m, x, T=4, dataset="fmnist"), m, x


def test_light_calibration_at_T8_is_within_one_point_of_the_ann():
    torch.manual_seed(0)
    x_train, y_train = fmnist("train", 12000)
    x_test, y_test = fmnist("test", 2000)
    model = small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    perm = torch.randperm(len(x_train))
    for i in range(0, len(x_train), 64):  # one epoch on 12,000 images
        b = perm[i:i + 64]
        loss = nn.functional.cross_entropy(model(x_train[b]), y_train[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        ann = accuracy(model(x_test), y_test)
    snn = snnkit.convert(model, x_train[:512], T=8, calib="light", dataset="fmnist")
    got = accuracy(snn(x_test), y_test)
    print(f"ANN {ann:.2f} %  SNN T=8 light {got:.2f} %  on {len(y_test)} test images")
    assert ann > 80, ann
    assert got >= ann - 1.0, (got, ann)
    conv = snn.meta["conversion"]
    assert conv["T"] == 8 and conv["threshold_search"] and conv["bias_correction"], conv
    # the preset's half step, as `snnkit convert --calib light` takes it: v(0) = V_th/2, no bias shift
    assert conv["half_init"] and not conv["bias_shift"], conv
    assert [l["layer"] for l in snn.meta["calibration"]] == ["2.relu", "6.relu"], snn.meta["calibration"]


def test_run_call_and_stats(random_snn):
    snn, _, x = random_snn
    assert snn.T == 4 and snn.input_shape == (1, 28, 28) and snn.num_classes == 10
    per_step = snn.run(x[:5], T=6)
    assert per_step.shape == (6, 5, 10) and per_step.dtype == torch.float32
    assert torch.equal(snn(x[:5], T=6), per_step.mean(0))
    assert snn(x[:5]).shape == (5, 10)
    # direct encoding = the same image at every step: a time-major input of repeated images gives the same output
    assert torch.allclose(snn.run(x[:5].expand(4, 5, 1, 28, 28).contiguous(), T=4), snn.run(x[:5]), atol=1e-5)
    s = snn.stats(x[:8])
    assert s["T"] == 4 and s["images"] == 8
    assert [n["layer"] for n in s["neurons"]] == ["2.relu", "6.relu"]
    assert all(0 <= n["firing_rate"] <= 1 for n in s["neurons"])
    assert s["totals"]["sops"] > 0 and s["totals"]["snn_energy_pj"] > 0
    assert {l["layer"] for l in s["layers"]} >= {"0.conv", "4.conv", "9"}  # BN folded into the convs by the export


def test_inference_paths_of_eval_agree(random_snn):
    """run / __call__ / stats with eval's --sparse and --spike-bf16 paths: the event-driven layers give the float
    result up to float sums; AMX-BF16 with three weight parts the same up to the order of float sums (a spike that
    this moves across the threshold changes the layers after it, so classes are held to 90 %), the same on a
    second call (the layers prepared once are reused); where AMX-BF16 is unavailable it is the float path."""
    snn, _, x = random_snn
    ref = snn.run(x, T=8)
    assert torch.allclose(snn.run(x, T=8, sparse=True), ref, atol=1e-4, rtol=1e-4)
    amx = snn.run(x, T=8, spike_bf16=True)
    assert amx.shape == ref.shape
    assert (amx.mean(0).argmax(1) == ref.mean(0).argmax(1)).double().mean().item() >= 0.9
    assert torch.equal(snn.run(x, T=8, spike_bf16=True), amx)
    assert torch.equal(snn(x, T=8, spike_bf16=True), amx.mean(0))
    if not snnkit.spike_bf16_available():
        assert torch.equal(amx, ref)
    one = snn.run(x, T=8, spike_bf16=True, spike_bf16_parts=1)
    assert (one.mean(0).argmax(1) == ref.mean(0).argmax(1)).double().mean().item() >= 0.9
    # spike_int8 implies the AMX path and takes int8 on layers of 128+ input channels: this net's 1 / 16 channel
    # convolutions stay on bfloat16, so its output is the spike_bf16 one bit for bit (tests/nn: the int8 layers)
    assert torch.equal(snn.run(x, T=8, spike_int8=True), amx)
    s = snn.stats(x[:8], spike_bf16=True, sparse=True)
    assert s["images"] == 8 and len(s["neurons"]) == 2
    assert snn.stats(x[:8], spike_int8=True)["images"] == 8
    for bad in (0, 4, 2.0, True):
        with pytest.raises(ValueError, match="spike_bf16_parts must be 1, 2 or 3"):
            snn.run(x, spike_bf16=True, spike_bf16_parts=bad)


def test_save_load_round_trip_and_snnkit_eval_reads_it(random_snn, tmp_path):
    snn, _, _ = random_snn
    d = tmp_path / "snn"
    snn.save(d)
    assert (d / "model.json").exists() and (d / "source_ann" / "model.json").exists()
    back = snnkit.load(d)
    x, y = fmnist("test", 100)
    assert torch.equal(back.run(x), snn.run(x))
    assert back.meta["kind"] == "snn-converted" and back.meta["conversion"]["T"] == 4
    # the command reads the same directory: per-step accuracy equal to the Python run's on the same images
    r = subprocess.run([CLI, "eval", "--model", str(d), "--T", "4", "--limit", "100", "--json", "-", "--quiet",
                        "--threads", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    out = back.run(x)
    mine = [accuracy(out[:t + 1].mean(0), y) for t in range(4)]
    assert np.allclose(ev["accuracy_per_t"], mine, atol=1.01), (ev["accuracy_per_t"], mine)
    assert "ann_accuracy" in ev  # it found the source ANN saved beside the SNN
    # an ANN cannot be loaded as an SNN, and a directory holding one is not overwritten
    with pytest.raises(ValueError, match="holds an ANN"):
        snnkit.load(d / "source_ann")
    before = (d / "source_ann" / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="holds a trained ANN"):
        snn.save(d / "source_ann")
    assert (d / "source_ann" / "model.safetensors").read_bytes() == before


def test_export_nir_is_readable_by_nir(random_snn, tmp_path):
    nir = pytest.importorskip("nir")
    snn, _, _ = random_snn
    p = tmp_path / "snn.nir"
    snn.export_nir(p)
    g = nir.read(str(p))
    kinds = sorted(type(n).__name__ for n in g.nodes.values())
    assert kinds.count("IF") == 2 and kinds.count("Conv2d") == 2, kinds
    assert "Affine" in kinds or "Linear" in kinds, kinds


def test_non_contiguous_input_is_handled(random_snn):
    snn, m, x = random_snn
    xt = x.transpose(2, 3)
    assert not xt.is_contiguous()
    assert torch.equal(snn.run(xt[:4]), snn.run(xt[:4].contiguous()))
    a = snnkit.convert(m, xt, T=4)
    b = snnkit.convert(m, xt.contiguous(), T=4)
    assert torch.equal(a.run(x[:4]), b.run(x[:4]))


@pytest.mark.parametrize("make, message", [
    (lambda x: x.to("meta"), "is on device 'meta'"),
    (lambda x: x.double(), "dtype torch.float64"),
    (lambda x: (x * 255).to(torch.uint8), "dtype torch.uint8"),
    (lambda x: torch.where(torch.arange(x.numel()).view(x.shape) == 7, float("nan"), x), "NaN"),
    (lambda x: x[:, 0], r"shape \[32, 28, 28\]"),
    (lambda x: x[:0], "at least one sample"),
    (lambda x: x.numpy(), "expected a torch.Tensor"),
])
def test_bad_calibration_images(random_snn, make, message):
    _, m, x = random_snn
    m.train()
    with pytest.raises(ValueError, match=message) as e:
        snnkit.convert(m, make(x), T=4)
    assert "\n" not in str(e.value)
    assert m.training  # the module's mode is restored


@pytest.mark.parametrize("make, message", [
    (lambda x: x.to("meta"), "is on device 'meta'"),
    (lambda x: x.double(), "dtype torch.float64"),
    (lambda x: x[0], r"has shape \[1, 28, 28\]; expected \[N, 1, 28, 28\]"),
    (lambda x: x.view(32, 1, 14, 56), r"has shape \[32, 1, 14, 56\]"),
    (lambda x: x * float("nan"), "NaN"),
])
def test_bad_run_input(random_snn, make, message):
    snn, _, x = random_snn
    for f in (snn.run, snn.stats, snn):
        with pytest.raises(ValueError, match=message):
            f(make(x))


class Net(nn.Module):
    def __init__(self, act):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), act)
        self.fc = nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class FunctionalSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        return self.fc(torch.flatten(torch.sigmoid(self.conv(x)), 1))


@pytest.mark.parametrize("module, message", [
    (Net(nn.Sigmoid()), r"module 'features\.1' \(Sigmoid\) cannot be converted: .*unsupported op"),
    (Net(nn.GELU()), r"module 'features\.1' \(GELU\) cannot be converted"),
    (FunctionalSigmoid(), r"the forward of FunctionalSigmoid \(a functional call\) cannot be converted"),
])
def test_unconvertible_layer_names_the_module(module, message, tmp_path):
    x = torch.randn(8, 1, 28, 28)
    with pytest.raises(ValueError, match=message):
        snnkit.convert(module, x, T=4)


def test_bad_arguments(random_snn):
    _, m, x = random_snn
    with pytest.raises(ValueError, match="expected a torch.nn.Module"):
        snnkit.convert(lambda t: t, x)
    with pytest.raises(ValueError, match="calib 'heavy' is not a preset"):
        snnkit.convert(m, x, calib="heavy")
    with pytest.raises(ValueError, match="threshold p99.9: the threshold search"):
        snnkit.convert(m, x, calib="light", threshold="p99.9")
    with pytest.raises(ValueError, match="unknown threshold"):
        snnkit.convert(m, x, threshold="p50")
    with pytest.raises(ValueError, match="give both mean and std"):
        snnkit.convert(m, x, mean=[0.5])
    with pytest.raises(ValueError, match="on device 'meta'"):
        snnkit.convert(small_cnn().to("meta"), x)
    with pytest.raises(ValueError, match="model.json: no such file"):
        snnkit.load("/nonexistent/snn")
