"""A SpikingJelly conv net (conv-BN-LIF blocks, multi-step, torch backend) and the same net with its LIF nodes
swapped for snnkit.LIF: the pair that bench/py/sj_convnet_step.py times and tests/python/test_sj_swap.py checks
step for step.

Net (CIFAR-sized input [N, 3, 32, 32] repeated over T, time-major [T, N, ...] throughout):
    [conv3x3(w) - BN - LIF] x 2 - avgpool2 - [conv3x3(2w) - BN - LIF] x 2 - avgpool2 - flatten - linear(10)
logits = mean over T; cross-entropy; SGD (lr 0.05, momentum 0.9).
LIF: neuron.LIFNode(tau=2, decay_input=False, v_threshold=1, v_reset=0 (hard), surrogate ATan(alpha=2),
step_mode="m", backend="torch"). The swap follows the README's mapping: snnkit.LIF(alpha=1 - 1/tau = 0.5,
v_th=1, reset="hard", detach_reset=False, surrogate="atan", surrogate_param=2); decay_input=False feeds x as is
(v - v/tau + x in SpikingJelly, 0.5 v + x in snnkit: the same float result, as v/2 is exact).
"""
import copy

import torch
import torch.nn as nn

TAU = 2.0
SURROGATE_ALPHA = 2.0
LR = 0.05


def sj_lif():
    from spikingjelly.activation_based import neuron, surrogate
    return neuron.LIFNode(tau=TAU, decay_input=False, v_threshold=1.0, v_reset=0.0, detach_reset=False,
                          surrogate_function=surrogate.ATan(alpha=SURROGATE_ALPHA), step_mode="m", backend="torch")


class SnnkitLIF(nn.Module):
    """Drop-in for the LIFNode above: snnkit.LIF over [T, N, ...], returning the spikes (no state to reset)."""

    def __init__(self):
        super().__init__()
        import snnkit
        self.lif = snnkit.LIF(alpha=1.0 - 1.0 / TAU, v_th=1.0, reset="hard", detach_reset=False, surrogate="atan",
                              surrogate_param=SURROGATE_ALPHA)

    def forward(self, x):
        return self.lif(x)[0]


def build_sj(width=64, size=32, classes=10):
    """The SpikingJelly net (multi-step layers); seed torch before calling for reproducible weights."""
    from spikingjelly.activation_based import layer

    def block(cin, cout):
        return [layer.Conv2d(cin, cout, 3, padding=1, bias=False, step_mode="m"),
                layer.BatchNorm2d(cout, step_mode="m"), sj_lif()]

    w2 = 2 * width
    return nn.Sequential(*block(3, width), *block(width, width), layer.AvgPool2d(2, 2, step_mode="m"),
                         *block(width, w2), *block(w2, w2), layer.AvgPool2d(2, 2, step_mode="m"),
                         layer.Flatten(step_mode="m"), layer.Linear(w2 * (size // 4) ** 2, classes, step_mode="m"))


def swap_lif(net):
    """A deep copy of net with every SpikingJelly LIFNode replaced by SnnkitLIF (same weights otherwise)."""
    from spikingjelly.activation_based import neuron
    out = copy.deepcopy(net)
    for name, m in list(out.named_children()):
        if isinstance(m, neuron.LIFNode):
            setattr(out, name, SnnkitLIF())
    return out


class Trainer:
    """One training step of a net on (x [N, 3, H, W], y [N]): x repeated over T, forward, backward, SGD step;
    SpikingJelly's nodes are reset after each step (snnkit's carry no state)."""

    def __init__(self, net, T, lr=LR):
        from spikingjelly.activation_based import base, functional
        stateful = any(isinstance(m, base.MemoryModule) for m in net.modules())
        self.net, self.T = net, T
        self.reset = functional.reset_net if stateful else (lambda _: None)
        self.opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
        net.train()

    def step(self, x, y):
        self.opt.zero_grad()
        out = self.net(x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)).mean(0)
        loss = nn.functional.cross_entropy(out, y)
        loss.backward()
        self.opt.step()
        self.reset(self.net)
        return loss.item()


def batches(n, batch, size, seed=0, classes=10):
    """n fixed seeded batches (x, y): images with a class-dependent mean, so that the loss can fall."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        y = torch.randint(classes, (batch,), generator=g)
        x = torch.randn(batch, 3, size, size, generator=g) + 0.2 * y.view(-1, 1, 1, 1).float() - 0.8
        out.append((x, y))
    return out


def nudge_one_ulp(net):
    """A deep copy of net with every floating parameter moved by one float32 ulp (towards +inf): a perturbation
    at the level of rounding, the noise floor that training amplifies."""
    out = copy.deepcopy(net)
    with torch.no_grad():
        for p in out.parameters():
            p.copy_(torch.nextafter(p, torch.full_like(p, float("inf"))))
    return out


def loss_curves(steps=20, width=64, size=32, batch=64, T=4, seed=0, lr=LR, noise_floor=False):
    """The losses of the first `steps` steps of both nets from the same initial weights and batches:
    (SpikingJelly, snnkit[, SpikingJelly from weights one ulp away when noise_floor])."""
    torch.manual_seed(seed)
    sj = build_sj(width, size)
    nets = [sj, swap_lif(sj)] + ([nudge_one_ulp(sj)] if noise_floor else [])
    data = batches(4, batch, size, seed)
    curves = []
    for net in nets:
        tr = Trainer(net, T, lr)
        curves.append([tr.step(*data[i % len(data)]) for i in range(steps)])
    return tuple(curves)
