"""snnkit: the fused CPU LIF/IF neuron of the snnkit C++ library as PyTorch modules.

    import torch, snnkit
    lif = snnkit.LIF(alpha=0.9, v_th=1.0, surrogate="atan")
    spikes, v = lif(x)            # x [T, N, ...] -> spikes [T, N, ...], final potential v [N, ...]
    spikes, v = lif(x2, v0=v)     # explicit state: carry v yourself

    snn = snnkit.convert(model, calib_images, T=8, calib="light")   # a trained nn.Module -> snnkit.SNN
    scores = snn(x)               # [N, K]; snn.run(x) per step, snn.stats(x), snn.save(dir), snnkit.load(dir)

The tensors are PyTorch's own (same libtorch in-process, no copies); autograd runs the fused backward kernel.
"""
from ._snnkit import Error
from .convert import SNN, convert, load
from .neuron import IF, LIF, neuron_forward
from .train import train_ann, train_snn

__all__ = ["Error", "IF", "LIF", "SNN", "convert", "load", "neuron_forward", "train_ann", "train_snn"]
