"""A plain PyTorch LIF/IF loop (autograd through ordinary ops) with its own surrogate formulas: the oracle the
Python tests hold snnkit.LIF / snnkit.IF to. Nothing here calls snnkit."""
import math

import torch

DEFAULTS = {"rect": 1.0, "triangle": 1.0, "exp": 2.0, "sigmoid": 4.0, "atan": 2.0, "dspike": 3.0}


def surrogate_grad(name, x, param=0.0, width=1.0):
    """d sigma / dx of the surrogate at x (tensor), written from the formulas in surrogate.h."""
    a = param if param > 0 else DEFAULTS[name]
    if name == "rect":
        return (x.abs() < a / 2).to(x.dtype) / a
    if name == "triangle":
        return torch.clamp(a - x.abs(), min=0) / (a * a)
    if name == "exp":
        return a / 2 * torch.exp(-a * x.abs())
    if name == "sigmoid":
        s = torch.sigmoid(a * x)
        return a * s * (1 - s)
    if name == "atan":
        return a / (2 * (1 + (math.pi / 2 * a * x) ** 2))
    if name == "dspike":
        t = torch.tanh(a * x)
        return (x.abs() <= width / 2).to(x.dtype) * a * (1 - t * t) / (2 * math.tanh(a * width / 2))
    raise ValueError(name)


class Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, v_th, name, param, width):
        ctx.save_for_backward(u, v_th)
        ctx.cfg = (name, param, width)
        return (u >= v_th).to(u.dtype)

    @staticmethod
    def backward(ctx, g):
        u, v_th = ctx.saved_tensors
        return g * surrogate_grad(ctx.cfg[0], u - v_th, ctx.cfg[1], ctx.cfg[2]), None, None, None, None


def lif_loop(x, v_th=1.0, v0=None, alpha=1.0, reset="soft", detach_reset=False, surrogate="atan",
             surrogate_param=0.0, surrogate_width=1.0):
    """(spikes [T, N, ...], v [N, ...]) by a per-step loop; alpha may be a tensor that requires grad."""
    v_th = torch.as_tensor(v_th, dtype=x.dtype)
    if v_th.dim() == 1:  # per channel: [C] -> [C, 1, ...] against one step [N, C, ...]
        v_th = v_th.reshape([-1] + [1] * (x.dim() - 3))
    v = torch.zeros_like(x[0]) if v0 is None else v0
    out = []
    for xt in x.unbind(0):
        u = v * alpha + xt
        s = Spike.apply(u, v_th, surrogate, surrogate_param, surrogate_width)
        r = s.detach() if detach_reset else s
        v = u - r * v_th if reset == "soft" else u * (1 - r)
        out.append(s)
    return torch.stack(out), v
