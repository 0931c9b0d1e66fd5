"""snnkit's NIR files read by other tools: the reference `nir` package (1.0.8) and snnTorch 1.0's
`import_from_nir` (nirtorch 2.6), all from bench/.pydeps (scripts/setup.sh installs them).

Each test makes a small SNN with the `snnkit` command (a zoo CNN trained briefly with train-ann, or a PyTorch
net with a depthwise and a grouped conv imported through ONNX), converts and exports it, then
  1. reads the file with `nir.read` (its type check on) and checks the node types,
  2. runs it in snnTorch and compares with `snnkit eval --json` on the same Fashion-MNIST test images:
     - snnTorch as it imports the file (its IF is a leaky neuron, beta = 0.9): the accuracy it loses is
       measured and bounded (docs/interop.md, "Read by other tools"),
     - the same snnTorch network with snnkit's IF restored (beta = 1): accuracy at every t and each layer's
       firing rate equal snnkit's, which checks what the file means (weights with the spike amplitude V_th
       folded in, dense block-diagonal grouped convs, thresholds).
Environment (set by CMake's ctest entry): SNNKIT_CLI, SNNKIT_BUILD_DIR.
"""
import gzip
import json
import os
import subprocess

import numpy as np
import pytest
import torch

import nir
import snntorch as snn
from snntorch.import_nir import import_from_nir

CLI = os.environ.get("SNNKIT_CLI", os.path.join(os.environ.get("SNNKIT_BUILD_DIR", "build"), "snnkit"))
FMNIST = "/usr/share/datasets/fashion-mnist"
N_TEST = 200  # test images compared
T = 16
# Node types snnTorch 1.0's import_from_nir maps (anything else: "Unknown node type ...").
SNNTORCH_TYPES = {"Input", "Output", "Affine", "Linear", "Conv2d", "Flatten", "AvgPool2d", "IF", "LIF", "CubaLIF"}


def snnkit(*args):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"snnkit {' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def idx_images(name, n):
    with gzip.open(os.path.join(FMNIST, name), "rb") as f:
        data = f.read()
    count, rows, cols = (int.from_bytes(data[4 * i:4 * i + 4], "big") for i in (1, 2, 3))
    px = np.frombuffer(data, np.uint8, offset=16, count=min(n, count) * rows * cols)
    return torch.from_numpy(px.reshape(-1, 1, rows, cols).astype(np.float32) / 255.0)


def idx_labels(name, n):
    with gzip.open(os.path.join(FMNIST, name), "rb") as f:
        data = f.read()
    return torch.from_numpy(np.frombuffer(data, np.uint8, offset=8, count=n).astype(np.int64))


def normalized_test_images(model_dir):
    """The first N_TEST test images normalised as snnkit normalises them for this model, and their labels."""
    with open(os.path.join(model_dir, "model.json")) as f:
        meta = json.load(f).get("meta", {})
    pre = meta.get("preprocess", {})
    mean, std = pre.get("mean", [0.2860]), pre.get("std", [0.3530])
    x = idx_images("t10k-images-idx3-ubyte.gz", N_TEST)
    x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    return x, idx_labels("t10k-labels-idx1-ubyte.gz", N_TEST)


def snnkit_eval(model_dir):
    out = json.loads(snnkit("eval", "--model", model_dir, "--T", T, "--limit", N_TEST, "--json", "-", "--quiet",
                            "--threads", 2))
    return np.array(out["accuracy_per_t"]), {l["layer"]: l["firing_rate"] for l in out["layers"]}


def snntorch_net(path, beta=None, reset_delay=None):
    """snnTorch's network for the file, with the two repairs it needs to run at all (see docs/interop.md):
    its IF import builds snn.Leaky(init_hidden=False), whose (spike, membrane) tuple the next node cannot take,
    and its Flatten flattens the batch too (NIR's start_dim 0 counts per-sample dims). beta / reset_delay, where
    given, replace what snnTorch's IF import sets (beta 0.9, reset_delay False). Returns the network and its
    neuron modules by NIR node name."""
    g = nir.read(path)
    net = import_from_nir(g)
    by_module_name = {name.replace(".", "_"): name for name in g.nodes}
    neurons = {}
    for name, m in net.named_modules():
        if isinstance(m, snn.Leaky):
            m.init_hidden = True
            if beta is not None:
                m.beta = torch.tensor(beta)
            if reset_delay is not None:
                m.reset_delay = reset_delay
            neurons[by_module_name[name]] = m
        elif isinstance(m, torch.nn.Flatten) and m.start_dim == 0:
            m.start_dim = 1
    return net, neurons


def snntorch_run(net, neurons, x):
    """Direct input at each of T steps; returns the output averaged over the first t steps for every t
    ([T, N, classes]) and each neuron layer's spike count."""
    for m in neurons.values():
        m.reset_mem()
    counts = {name: 0.0 for name in neurons}
    sizes = {}

    def hook(name):
        def f(_, __, out):
            counts[name] += float(out.sum())
            sizes[name] = out[0].numel()
        return f

    handles = [m.register_forward_hook(hook(name)) for name, m in neurons.items()]
    outs = []
    with torch.no_grad():
        for _ in range(T):
            outs.append(net(x)[0].reshape(x.shape[0], -1))  # [classes] when the batch was flattened away
    for h in handles:
        h.remove()
    mean_t = torch.cumsum(torch.stack(outs), 0) / torch.arange(1, T + 1).view(-1, 1, 1)
    rates = {name: counts[name] / (T * x.shape[0] * sizes[name]) for name in neurons}
    return mean_t, rates


def accuracy_per_t(mean_t, labels):
    return (mean_t.argmax(-1) == labels).float().mean(1).numpy() * 100.0


def node_types(path):
    g = nir.read(path)  # type_check=True: every edge's output type must equal the next node's input type
    assert g.check_types()
    return {name: type(n).__name__ for name, n in g.nodes.items()}, g


def compare(snn_dir, nir_path, label, max_drop):
    """snnTorch against `snnkit eval` on the same images; returns the measured numbers."""
    ref_acc, ref_rates = snnkit_eval(snn_dir)
    x, y = normalized_test_images(snn_dir)
    # snnTorch with snnkit's IF restored: beta = 1 (no leak) and reset_delay = True (V_th subtracted once per
    # spike, at the next step: snnkit's soft reset); left: > against >=, summation order (folded weights).
    net, neurons = snntorch_net(nir_path, beta=1.0, reset_delay=True)
    mean_t, rates = snntorch_run(net, neurons, x)
    acc = accuracy_per_t(mean_t, y)
    assert sorted(rates) == sorted(ref_rates)
    rate_diff = max(abs(rates[n] - ref_rates[n]) for n in rates)
    acc_diff = np.abs(acc - ref_acc).max()
    print(f"\n{label}: snnkit {ref_acc[-1]:.1f} % at T={T}; snnTorch with snnkit's IF {acc[-1]:.1f} % "
          f"(max |diff| over t {acc_diff:.2f} points, firing rates {rate_diff:.1e} apart)")
    assert min(ref_rates.values()) > 0.005, "a layer hardly fires: the comparison would be weak"
    assert acc_diff <= 100.0 / N_TEST + 1e-4, (acc, ref_acc)  # at most one image apart at any t
    assert rate_diff <= 1e-5, (rates, ref_rates)
    # The same network run one image at a time with snnTorch's own Flatten (start_dim 0 flattens the only
    # sample): the same outputs as the batched run with start_dim 1.
    plain, plain_neurons = snntorch_net(nir_path, beta=1.0, reset_delay=True)
    for m in plain.modules():
        if isinstance(m, torch.nn.Flatten):
            m.start_dim = 0
    for i in range(2):
        one, _ = snntorch_run(plain, plain_neurons, x[i:i + 1])
        assert torch.allclose(one[:, 0], mean_t[:, i], atol=1e-5)
    # snnTorch's reset with beta = 1: a neuron left above V_th after its reset fires again only above 2 V_th.
    net_r, neurons_r = snntorch_net(nir_path, beta=1.0)
    mean_r, rates_r = snntorch_run(net_r, neurons_r, x)
    acc_r = accuracy_per_t(mean_r, y)
    print(f"{label}: snnTorch's reset (reset_delay False), beta 1: {acc_r[-1]:.1f} % at T={T}, max |diff| over t "
          f"{np.abs(acc_r - ref_acc).max():.1f} points, firing rates {max(abs(rates_r[n] - ref_rates[n]) for n in rates):.1e} apart")
    # snnTorch as it imports the file: IF read as a leaky neuron with beta = 0.9 and its reset.
    net09, neurons09 = snntorch_net(nir_path)
    assert all(float(m.beta) == pytest.approx(0.9) and not m.reset_delay for m in neurons09.values())
    mean09, rates09 = snntorch_run(net09, neurons09, x)
    acc09 = accuracy_per_t(mean09, y)
    agree = (mean09[-1].argmax(-1) == mean_t[-1].argmax(-1)).float().mean().item() * 100
    print(f"{label}: snnTorch as imported (beta 0.9): {acc09[-1]:.1f} % at T={T} ({acc09[-1] - ref_acc[-1]:+.1f} points), "
          f"same class as snnkit on {agree:.1f} % of the images, firing rates "
          + ", ".join(f"{n} {rates09[n]:.4f} (snnkit {ref_rates[n]:.4f})" for n in rates))
    assert ref_acc[-1] - acc09[-1] <= max_drop
    assert all(rates09[n] < ref_rates[n] for n in rates)  # the leak loses charge: fewer spikes in every layer
    return ref_acc, acc09


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("nir_readers")


@pytest.fixture(scope="module")
def zoo_cnn(workdir):
    """The zoo `cnn` (conv-BN-ReLU, avg pools, flatten, two linears), 1 epoch on 3000 images, converted with
    one threshold per layer (what snnTorch's IF import takes) and exported."""
    ann, snn_dir, path = workdir / "cnn_ann", workdir / "cnn_snn", workdir / "cnn.nir"
    snnkit("train-ann", "--arch", "cnn", "--epochs", 1, "--limit-train", 3000, "--limit-test", 100, "--batch-size", 64,
           "--lr", 0.05, "--stats-samples", 256, "--out", ann, "--quiet", "--threads", 2)
    snnkit("convert", "--model", ann, "--T", T, "--threshold", "p99.99", "--out", snn_dir, "--quiet", "--threads", 2)
    snnkit("export-nir", snn_dir, "--out", path)
    return snn_dir, str(path)


def test_zoo_cnn_is_nir_with_known_nodes_only(zoo_cnn):
    snn_dir, path = zoo_cnn
    types, g = node_types(path)
    # Every spike amplitude V_th went into the next conv / linear: no Scale node.
    assert "Scale" not in types.values()
    assert set(types.values()) <= SNNTORCH_TYPES, types
    assert sorted(t for t in types.values() if t == "IF") == ["IF"] * 3
    assert g.nodes["flatten"].start_dim == 0
    # snnkit's own import still restores the model exactly (the C++ tests compare spikes).
    snnkit("import-nir", path, "--out", os.path.join(os.path.dirname(path), "cnn_back"))


def test_snntorch_runs_zoo_cnn_like_snnkit(zoo_cnn):
    snn_dir, path = zoo_cnn
    ref_acc, acc09 = compare(snn_dir, path, "zoo cnn", max_drop=25.0)
    assert ref_acc[-1] > 60.0  # a trained model: accuracy differences mean something


class DepthwiseGroupedNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
            torch.nn.Conv2d(16, 16, 3, padding=1, groups=16), torch.nn.ReLU(),  # depthwise
            torch.nn.Conv2d(16, 32, 1, groups=4), torch.nn.ReLU(), torch.nn.AvgPool2d(2),  # grouped
            torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 10))

    def forward(self, x):
        return self.features(x)


@pytest.fixture(scope="module")
def grouped(workdir):
    """A PyTorch net with a depthwise and a grouped conv, trained 150 steps on Fashion-MNIST, exported to ONNX
    and converted by `snnkit convert --onnx` (per layer and, for the refusal check, per channel)."""
    torch.manual_seed(0)
    net = DepthwiseGroupedNet()
    x = idx_images("train-images-idx3-ubyte.gz", 4800)
    y = idx_labels("train-labels-idx1-ubyte.gz", 4800)
    x = (x - 0.2860) / 0.3530
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for step in range(150):
        i = torch.arange(step * 32, step * 32 + 32) % x.shape[0]
        loss = torch.nn.functional.cross_entropy(net(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    onnx_path = workdir / "grouped.onnx"
    torch.onnx.export(net.eval(), torch.zeros(1, 1, 28, 28), str(onnx_path), opset_version=13)
    out = {}
    snn_dir, path = workdir / "grouped_layer", workdir / "grouped_layer.nir"
    snnkit("convert", "--onnx", onnx_path, "--dataset", "fmnist", "--stats-samples", 256, "--T", T,
           "--threshold", "p99.99", "--out", snn_dir, "--quiet", "--threads", 2)
    snnkit("export-nir", snn_dir, "--out", path)
    out["layer"] = (snn_dir, str(path))
    # per channel, from the ANN that convert --onnx kept
    ch_dir, ch_path = workdir / "grouped_channel", workdir / "grouped_channel.nir"
    snnkit("convert", "--model", snn_dir / "source_ann", "--T", T, "--channel-wise", "--out", ch_dir, "--quiet",
           "--threads", 2)
    snnkit("export-nir", ch_dir, "--out", ch_path)
    out["channel"] = (ch_dir, str(ch_path))
    return out


def test_grouped_and_depthwise_convs_pass_nir_type_check(grouped):
    snn_dir, path = grouped["layer"]
    types, g = node_types(path)
    assert "Scale" not in types.values() and set(types.values()) <= SNNTORCH_TYPES, types
    convs = [n for n in g.nodes.values() if isinstance(n, nir.Conv2d)]
    assert len(convs) == 3
    # Written dense: groups 1, the block-diagonal weight's zeros where a group does not read a channel.
    assert all(c.groups == 1 for c in convs)
    dw = [c for c in convs if c.weight.shape[:2] == (16, 16)][0]
    off = dw.weight.copy()
    for o in range(16):
        off[o, o] = 0
    assert np.count_nonzero(dw.weight) > 0 and np.count_nonzero(off) == 0


def test_snntorch_runs_grouped_and_depthwise_like_snnkit(grouped):
    snn_dir, path = grouped["layer"]
    ref_acc, acc09 = compare(snn_dir, path, "depthwise + grouped", max_drop=15.0)
    assert ref_acc[-1] > 50.0


def test_snntorch_refuses_per_channel_thresholds(grouped):
    # The file is valid NIR (per-neuron thresholds), but snnTorch's IF import takes one threshold per layer.
    snn_dir, path = grouped["channel"]
    node_types(path)
    with pytest.raises(AssertionError, match="v_threshold must be same for all neurons"):
        import_from_nir(nir.read(path))
