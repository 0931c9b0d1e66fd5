"""Conversion of a trained PyTorch ANN into a spiking network, in memory (no files in between).

    snn = snnkit.convert(model, calib_images, T=8, calib="light")
    scores = snn(x)                      # [N, K] class scores (mean output over the T steps)
    per_step = snn.run(x, T=16)          # [T, N, K] the output at every step
    snn.stats(x)                         # per-layer firing rates, SOPs, energy (dict)
    snn.save("out/snn"); snnkit.load("out/snn"); snn.export_nir("snn.nir")

The module goes through torch.onnx.export into bytes, which the library's ONNX importer reads; the library then
records the activation statistics on the calibration images, converts by threshold balancing and calibrates
(the same code `snnkit convert` runs). Bad input raises snnkit.Error (a ValueError) with one line.
"""
import io
import json
import os
import re

import torch

from . import _snnkit

CALIB_PRESETS = ("none", "light", "advanced")


def _fail(msg):
    raise _snnkit.Error(msg)


def _check_images(x, what):
    """The checks that must come before torch runs the module on x (the library repeats the others)."""
    if not isinstance(x, torch.Tensor):
        _fail(f"{what}: expected a torch.Tensor, got {type(x).__name__}")
    if x.device.type != "cpu":
        _fail(f"{what}: tensor is on device '{x.device}'; only CPU tensors are supported (use .cpu())")
    if x.dtype != torch.float32:
        _fail(f"{what}: tensor has dtype {x.dtype}; expected torch.float32 (use .float())")
    if x.dim() < 2 or x.shape[0] == 0:
        _fail(f"{what}: tensor has shape {list(x.shape)}; expected a batch [N, ...] of at least one sample")
    if not bool(torch.isfinite(x).all()):
        _fail(f"{what}: tensor contains NaN or Inf")
    return x.contiguous()


def _module_path_of(message):
    """The PyTorch module path an importer / converter error names, or None: ONNX nodes exported by torch are
    called '/<scope>/.../<module path>/<Op>[_k]'; converted graph nodes '<module path>.<op>'."""
    m = re.search(r"node '(/[^']*)'", message)
    if m:
        parts = m.group(1).strip("/").split("/")
        return parts[-2] if len(parts) >= 2 else ""
    m = re.match(r"([\w.]+): ", message)
    if m and "." in m.group(1):
        return m.group(1).rsplit(".", 1)[0]
    return None


def _name_the_module(module, err):
    """Re-raises a library error about one layer as a ValueError naming the module's path and type."""
    msg = str(err)
    path = _module_path_of(msg)
    modules = dict(module.named_modules())
    if path is not None and path in modules:
        kind = type(modules[path]).__name__
        where = f"module '{path}' ({kind})" if path else f"the forward of {kind} (a functional call)"
        return _snnkit.Error(f"snnkit.convert: {where} cannot be converted: {msg}")
    return _snnkit.Error(f"snnkit.convert: {msg}")


def _export_onnx(module, images, opset):
    """torch.onnx.export of the module in eval mode into bytes (dynamic batch); the module's mode is restored."""
    buf = io.BytesIO()
    sample = images[:1]
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            torch.onnx.export(module, (sample,), buf, opset_version=opset, input_names=["input"],
                              output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                              do_constant_folding=True)
    except Exception as e:  # the module does not run on such input, or has an op torch cannot export
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        _fail(f"snnkit.convert: torch.onnx.export of the module on calib_images of shape {list(images.shape)} "
              f"failed: {why}")
    finally:
        module.train(was_training)
    return buf.getvalue()


def convert(module, calib_images, T=8, calib="none", *, threshold="max", channel_wise=False, bias_shift=False,
            half_init=False, grid=100, wc_iters=300, wc_lr=1e-4, wc_batch=32, memory_budget_mib=1024, seed=0,
            qcfs_lambda="keep", stats_samples=1024, dataset=None, mean=None, std=None, progress=False, opset=13):
    """Converts a trained torch.nn.Module (conv / linear / BN / ReLU / pooling / flatten / residual adds, as the
    ONNX importer maps them) into an SNN of IF neurons and calibrates it. Returns an snnkit.SNN.

    calib_images: float32 CPU tensor [N, ...] exactly as the module takes its input (already normalised); the
        activation statistics are recorded on its first `stats_samples` images, calibration uses all of them.
    T: the simulation length the conversion targets (bias shift, calibration).
    calib: "none", "light" (threshold search + bias correction) or "advanced" (search + weight calibration +
        potential correction), the presets of `snnkit convert --calib`.
    threshold: "max", "p99.9", "p99.99" (not with a threshold search) or "search"; channel_wise: per channel.
    bias_shift: the half-step shift as b += V_th / (2T) (default off, as `snnkit convert`: the light and advanced
        presets take their half step as v(0) = V_th/2 unless bias_shift=True; half_init=True asks for v(0) = V_th/2
        without a preset).
    grid, wc_iters, wc_lr, wc_batch, memory_budget_mib, seed, qcfs_lambda: as the command's flags.
    dataset, mean, std: recorded in the metadata so that `snnkit eval --model DIR` normalises the dataset's
        images as the module expects (the dataset's own normalisation when mean / std are not given).
    Raises snnkit.Error (ValueError): bad images, an unconvertible layer (naming its module path and type), ...
    """
    if not isinstance(module, torch.nn.Module):
        _fail(f"snnkit.convert: expected a torch.nn.Module, got {type(module).__name__}")
    if calib not in CALIB_PRESETS:
        _fail(f"snnkit.convert: calib '{calib}' is not a preset (known: {', '.join(CALIB_PRESETS)})")
    for name, p in list(module.named_parameters()) + list(module.named_buffers()):
        if p.device.type != "cpu":
            _fail(f"snnkit.convert: the module's '{name}' is on device '{p.device}'; convert a CPU module (.cpu())")
    x = _check_images(calib_images, "snnkit.convert: calib_images")
    if (mean is None) != (std is None):
        _fail("snnkit.convert: give both mean and std (one value per channel), or neither")
    meta = {"kind": "ann", "source": "pytorch", "module": type(module).__name__}
    if dataset is not None:
        meta["dataset"] = str(dataset)
    if mean is not None:
        meta["preprocess"] = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
    onnx = _export_onnx(module, x, opset)
    try:
        model = _snnkit.convert_onnx(onnx, x, json.dumps(meta), int(T), str(threshold), bool(channel_wise),
                                     bool(bias_shift), bool(half_init), calib, int(grid), int(wc_iters),
                                     float(wc_lr), int(wc_batch), int(memory_budget_mib), int(seed),
                                     str(qcfs_lambda), int(stats_samples), bool(progress))
    except _snnkit.Error as e:
        raise _name_the_module(module, e) from None
    return SNN(model)


def _parts(n):
    if isinstance(n, bool) or not isinstance(n, int) or n not in (1, 2, 3):
        _fail(f"spike_bf16_parts must be 1, 2 or 3, got {n!r}")
    return n


def load(path):
    """Reads a model directory as `snnkit convert` (or SNN.save) writes it into an snnkit.SNN."""
    model = _snnkit.load_model(os.fspath(path))
    kind = json.loads(model.meta_json).get("kind", "")
    if kind == "ann":
        _fail(f"{os.fspath(path)}: holds an ANN (kind 'ann'), not an SNN; convert it with snnkit.convert")
    return SNN(model)


class SNN:
    """A converted spiking network (from snnkit.convert or snnkit.load); it runs in the library's executor.

    Inputs are float32 CPU tensors [N, ...] normalised as the source module took them (direct encoding: the same
    image at every step), or time-major [T, N, ...]. Nothing here needs gradients: it runs under no_grad.
    """

    def __init__(self, model):
        self._m = model
        self.meta = json.loads(model.meta_json)

    @property
    def T(self):
        """The number of steps the network was converted for (the default T of run / stats / __call__)."""
        conv = self.meta.get("conversion", {})
        return int(conv.get("T", self.meta.get("T", 32)))

    @property
    def input_shape(self):
        return tuple(self._m.input_shape)

    @property
    def num_classes(self):
        return int(self._m.num_classes)

    def run(self, x, T=None, sparse=False, spike_bf16=False, spike_bf16_parts=3, spike_int8=False):
        """The output layer's value at every step, [T, N, K] (its mean over the steps is the prediction).

        The inference paths of `snnkit eval`: sparse=True runs layers event-driven (--sparse: convolutions of spikes on
        bit-packed spikes, by table lookup or by summing the active inputs' weight rows, also behind average pools from
        the windows' spikes, other conv / linear layers where their input is sparse enough; the fast path on CPUs
        without AMX); spike_bf16=True runs the convolutions fed by spikes on AMX-BF16 (--spike-bf16), with
        spike_bf16_parts bfloat16 parts per weight: 3 equals the float result up to the order of float sums, 2 / 1 round
        the weights (approximate). spike_bf16 needs oneDNN and an AMX-BF16 CPU (snnkit.spike_bf16_available());
        elsewhere it runs the float path. spike_int8=True (--spike-int8, implies spike_bf16) runs the AMX layers of 128
        or more input channels on int8 instead: three int8 weight parts per output channel and exact integer sums, the
        float result up to float sums as well, faster on wide layers (VGG-16). The AMX layers are prepared once per SNN
        and reused by later calls."""
        x = _check_images(x, "SNN.run: x")
        return self._m.run(x, int(self.T if T is None else T), bool(sparse), bool(spike_bf16),
                           _parts(spike_bf16_parts), bool(spike_int8))

    def __call__(self, x, T=None, **paths):
        """Class scores [N, K]: the output averaged over T steps (argmax = the prediction, as `snnkit eval`);
        paths: run's sparse / spike_bf16 / spike_bf16_parts / spike_int8."""
        return self.run(x, T, **paths).mean(0)

    def stats(self, x, T=None, sparse=False, spike_bf16=False, spike_bf16_parts=3, spike_int8=False):
        """Per-layer firing rates, synaptic operations and energy estimates over x, per image (a dict:
        "neurons" [{layer, neurons, spikes, firing_rate}], "layers" [{layer, op, sops, snn_energy_pj, ...}],
        "totals" {...}; the same figures as `snnkit stats --json`); the paths as in run."""
        x = _check_images(x, "SNN.stats: x")
        return json.loads(self._m.stats(x, int(self.T if T is None else T), bool(sparse), bool(spike_bf16),
                                        _parts(spike_bf16_parts), bool(spike_int8)))

    def save(self, path):
        """Writes the model directory `snnkit eval --model` reads (model.json + model.safetensors, each written
        atomically); a network made by snnkit.convert also writes its source ANN into path/source_ann."""
        path = os.fspath(path)
        existing = os.path.join(path, "model.json")
        if os.path.exists(existing):
            try:
                with open(existing) as f:
                    kind = json.load(f).get("meta", {}).get("kind", "")
            except (OSError, ValueError):
                kind = ""
            if kind == "ann":
                _fail(f"SNN.save: {path} holds a trained ANN (kind 'ann'); it would be overwritten, choose another")
        self._m.save(path)
        if self._m.has_ann:
            self.meta["source_model"] = os.path.abspath(os.path.join(path, "source_ann"))

    def export_nir(self, path):
        """Writes the network as a NIR graph (HDF5; snnkit.load-able through `snnkit nir import`)."""
        self._m.export_nir(os.fspath(path))

    def __repr__(self):
        return f"snnkit.SNN(input {list(self.input_shape)}, {self.num_classes} classes, T={self.T})"
