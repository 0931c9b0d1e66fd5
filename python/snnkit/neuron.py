"""LIF and IF neurons as torch.nn.Module over the fused kernel of libsnnkit.

    u_t = alpha * v_t + x_t ;  s_t = [u_t >= v_th] ;  soft: v_{t+1} = u_t - s_t v_th   hard: v_{t+1} = u_t (1 - s_t)

Multi-step, time-major: x is [T, N, ...] (any trailing shape), the state v is [N, ...]. There is no hidden
state: forward takes v0 (None: zeros) and returns (spikes, v), so nothing needs resetting between batches.
A static input (direct encoding: the same image, or its first convolution, at every step) is passed once as
x [N, ...] with T=...: the kernel reads it at each step instead of a [T, N, ...] copy, and its gradient is the
sum over the steps (as for x.unsqueeze(0).expand(T, ...)).
"""
import torch

from . import _snnkit

SURROGATES = ("rect", "triangle", "exp", "sigmoid", "atan", "dspike")


def neuron_forward(x, v_th=1.0, v0=None, alpha=1.0, reset="soft", detach_reset=False, surrogate="atan",
                   surrogate_param=0.0, surrogate_width=1.0, spike_vth=False, T=None):
    """Functional form: (spikes, v) = neuron_forward(x [T, N, ...], ...), or with T=... a static x [N, ...]
    that is the input of each of the T steps (spikes [T, N, ...]; no [T, N, ...] copy of x is made).

    v_th: float, 0-d tensor or [C] tensor (C = x.shape[2]); v0: None, 0-d, [C] or one step [N, ...];
    alpha: float (fixed) or 0-d tensor (a gradient flows to it when it requires grad);
    surrogate_param <= 0 picks the surrogate's default (rect/triangle 1, exp 2, sigmoid 4, atan 2, dspike 3).
    Bad input raises snnkit.Error (a ValueError) with one line naming the problem.
    """
    if not isinstance(x, torch.Tensor):
        raise _snnkit.Error("snnkit.neuron_forward: x must be a torch.Tensor, got " + type(x).__name__)
    if not isinstance(v_th, torch.Tensor):
        v_th = torch.tensor(float(v_th), dtype=x.dtype if x.is_floating_point() else torch.float32)
    if isinstance(alpha, torch.Tensor):
        alpha_t, alpha_value = alpha, 0.0
    else:
        alpha_t, alpha_value = None, float(alpha)
    repeat = 0
    if T is not None:
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise _snnkit.Error(f"snnkit.neuron_forward: T must be a positive int (the steps of a static x), got {T!r}")
        repeat = T
    return _snnkit.neuron_forward(x, v_th, v0, alpha_t, alpha_value, reset, bool(detach_reset), bool(spike_vth),
                                  surrogate, float(surrogate_param), float(surrogate_width), repeat)


class _Neuron(torch.nn.Module):
    """Shared by LIF and IF: the options of the library's neuron_options."""

    def __init__(self, alpha, learn_alpha, v_th, reset, detach_reset, surrogate, surrogate_param,
                 surrogate_width, spike_vth):
        super().__init__()
        if reset not in ("soft", "hard"):
            raise _snnkit.Error(f"{type(self).__name__}: reset must be 'soft' or 'hard', got {reset!r}")
        if surrogate not in SURROGATES:
            raise _snnkit.Error(f"{type(self).__name__}: unknown surrogate {surrogate!r}; one of {', '.join(SURROGATES)}")
        if learn_alpha:
            self.alpha = torch.nn.Parameter(torch.tensor(float(alpha)))
        else:
            self.alpha = float(alpha)
        if isinstance(v_th, torch.Tensor):
            self.register_buffer("v_th", v_th.detach().clone())
        else:
            self.v_th = float(v_th)
        self.reset = reset
        self.detach_reset = bool(detach_reset)
        self.surrogate = surrogate
        self.surrogate_param = float(surrogate_param)
        self.surrogate_width = float(surrogate_width)
        self.spike_vth = bool(spike_vth)

    def forward(self, x, v0=None, T=None):
        """x [T, N, ...], v0 None (zeros) / 0-d / [C] / [N, ...] -> (spikes [T, N, ...], v [N, ...]).
        T=...: x is one step [N, ...], the same input at each of T steps (read T times, not copied)."""
        return neuron_forward(x, self.v_th, v0, self.alpha, self.reset, self.detach_reset, self.surrogate,
                              self.surrogate_param, self.surrogate_width, self.spike_vth, T)

    def extra_repr(self):
        alpha = f"{float(self.alpha):.4g}" + (" (learned)" if isinstance(self.alpha, torch.nn.Parameter) else "")
        v_th = self.v_th if isinstance(self.v_th, float) else f"tensor{list(self.v_th.shape)}"
        return (f"alpha={alpha}, v_th={v_th}, reset={self.reset}, detach_reset={self.detach_reset}, "
                f"surrogate={self.surrogate}({self.surrogate_param or 'default'})")


class LIF(_Neuron):
    """Leaky integrate-and-fire: v_temp = alpha * v + x. learn_alpha=True makes alpha a Parameter (PLIF:
    one learnable membrane decay per layer; its gradient comes from the fused backward)."""

    def __init__(self, alpha=0.5, v_th=1.0, reset="soft", detach_reset=False, surrogate="atan",
                 surrogate_param=0.0, surrogate_width=1.0, learn_alpha=False, spike_vth=False):
        super().__init__(alpha, learn_alpha, v_th, reset, detach_reset, surrogate, surrogate_param,
                         surrogate_width, spike_vth)


class IF(_Neuron):
    """Integrate-and-fire: v_temp = v + x (LIF with alpha = 1)."""

    def __init__(self, v_th=1.0, reset="soft", detach_reset=False, surrogate="atan", surrogate_param=0.0,
                 surrogate_width=1.0, spike_vth=False):
        super().__init__(1.0, False, v_th, reset, detach_reset, surrogate, surrogate_param, surrogate_width,
                         spike_vth)
