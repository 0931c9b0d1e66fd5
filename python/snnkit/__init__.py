"""snnkit: the fused CPU LIF/IF neuron of the snnkit C++ library as PyTorch modules.

    import torch, snnkit
    lif = snnkit.LIF(alpha=0.9, v_th=1.0, surrogate="atan")
    spikes, v = lif(x)            # x [T, N, ...] -> spikes [T, N, ...], final potential v [N, ...]
    spikes, v = lif(x2, v0=v)     # explicit state: carry v yourself

    snn = snnkit.convert(model, calib_images, T=8, calib="light")   # a trained nn.Module -> snnkit.SNN
    scores = snn(x)               # [N, K]; snn.run(x) per step, snn.stats(x), snn.save(dir), snnkit.load(dir)
    scores = snn(x, spike_bf16=True)   # spike-fed convolutions on AMX-BF16 (float-equal parts), as eval --spike-bf16

The tensors are PyTorch's own (same libtorch in-process, no copies); autograd runs the fused backward kernel.
"""
from ._snnkit import Error, spike_bf16_available
from .convert import SNN, convert, load
from .neuron import IF, LIF, neuron_forward
from .train import train_ann, train_snn

__all__ = ["Error", "IF", "LIF", "SNN", "convert", "load", "neuron_forward", "spike_bf16_available", "train_ann",
           "train_snn"]
