"""snnkit.LIF / snnkit.IF against a plain PyTorch autograd loop with the same surrogate (snn_reference.py):
forward bit-equal, gradients of x, v0 and alpha within float tolerance; the alpha gradient also against a
central finite difference; bad input raises snnkit.Error with one line."""
import itertools
import math
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
import snnkit  # noqa: E402
from snn_reference import lif_loop, surrogate_grad  # noqa: E402

SURROGATES = ["rect", "triangle", "exp", "sigmoid", "atan", "dspike"]


def run(fn, x, v0, alpha, wv, ws, **kw):
    """Forward + backward of L = sum(spikes * ws) + sum(v * wv); returns outputs and the leaf gradients."""
    x = x.detach().clone().requires_grad_(True)
    v0 = None if v0 is None else v0.detach().clone().requires_grad_(True)
    a = torch.tensor(alpha, dtype=x.dtype, requires_grad=True)
    s, v = fn(x, v0=v0, alpha=a, **kw)
    ((s * ws).sum() + (v * wv).sum()).backward()
    return s.detach(), v.detach(), x.grad, None if v0 is None else v0.grad, a.grad


def fused(x, v0, alpha, **kw):
    return snnkit.neuron_forward(x, v0=v0, alpha=alpha, **kw)


def close(a, b, rtol):
    return (a - b).abs().max().item() <= rtol * max(b.abs().max().item(), 1e-30)


@pytest.mark.parametrize("surrogate,reset,detach,dtype",
                         list(itertools.product(SURROGATES, ["soft", "hard"], [False, True],
                                                [torch.float32, torch.float64])))
def test_fused_matches_plain_loop(surrogate, reset, detach, dtype):
    torch.manual_seed(1)
    x = torch.randn(6, 4, 3, 5, 7, dtype=dtype) * 0.7 + 0.35
    v0 = torch.randn(4, 3, 5, 7, dtype=dtype) * 0.5
    ws, wv = torch.randn_like(x), torch.randn_like(v0)
    kw = dict(v_th=0.9, reset=reset, detach_reset=detach, surrogate=surrogate)
    f = run(fused, x, v0, 0.7, wv, ws, **kw)
    r = run(lif_loop, x, v0, 0.7, wv, ws, **kw)
    assert torch.equal(f[0], r[0]), "spikes differ"
    assert torch.equal(f[1], r[1]), "final v differs"
    rate = f[0].mean().item()
    assert 0.05 < rate < 0.95
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    for name, gf, gr in zip(["x", "v0", "alpha"], f[2:], r[2:]):
        assert gf.shape == gr.shape, name
        assert close(gf, gr, tol), f"grad {name}: {gf.flatten()[:4]} vs {gr.flatten()[:4]}"
    assert abs(r[4].item()) > 1e-3


@pytest.mark.parametrize("shape", [(5, 11), (3, 2, 9), (4, 2, 3, 4, 5), (1, 1, 1)])
def test_any_trailing_shape_and_if(shape):
    torch.manual_seed(2)
    x = (torch.randn(*shape, dtype=torch.float64) + 0.4).requires_grad_(True)
    s, v = snnkit.IF(v_th=1.0)(x)
    assert s.shape == x.shape and v.shape == x.shape[1:]
    rs, rv = lif_loop(x, 1.0)
    assert torch.equal(s, rs) and torch.equal(v, rv)
    gx, = torch.autograd.grad((s.sum() + v.sum()), x)
    rgx, = torch.autograd.grad((rs.sum() + rv.sum()), x)
    assert torch.allclose(gx, rgx, rtol=1e-10, atol=1e-12)


def test_per_channel_threshold_and_v0_forms():
    torch.manual_seed(3)
    x = torch.randn(4, 2, 3, 5) + 0.4
    vth = torch.tensor([0.6, 0.9, 1.2])
    lif = snnkit.LIF(alpha=0.8, v_th=vth)
    for v0 in [None, torch.tensor(0.2), torch.tensor([0.1, 0.0, -0.1]), torch.randn(2, 3, 5) * 0.3]:
        s, v = lif(x, v0=v0)
        v0r = None if v0 is None else (v0.reshape(3, 1) if v0.dim() == 1 else v0)
        rs, rv = lif_loop(x, vth, v0=v0r, alpha=0.8)
        assert torch.equal(s, rs) and torch.equal(v, rv.expand_as(v))


def test_explicit_state_carries_over():
    torch.manual_seed(4)
    x = torch.randn(8, 3, 10) + 0.3
    lif = snnkit.LIF(alpha=0.9)
    s_all, v_all = lif(x)
    s1, v1 = lif(x[:5])
    s2, v2 = lif(x[5:], v0=v1)
    assert torch.equal(torch.cat([s1, s2]), s_all) and torch.equal(v2, v_all)
    s_again, _ = lif(x)  # no hidden state: the same call gives the same result
    assert torch.equal(s_again, s_all)


@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_alpha_gradient_finite_difference(reset):
    # With detach_reset the backward uses only true derivatives; while the perturbation flips no spike,
    # L(alpha) = sum(v_T * w) is smooth and its central difference is the exact gradient.
    torch.manual_seed(5)
    x = torch.randn(8, 4, 300, dtype=torch.float64) * 0.6 + 0.3
    v0 = torch.randn(4, 300, dtype=torch.float64) * 0.4
    w = torch.randn(4, 300, dtype=torch.float64)
    kw = dict(v_th=1.0, v0=v0, reset=reset, detach_reset=True)
    a = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    s, v = snnkit.neuron_forward(x, alpha=a, **kw)
    (v * w).sum().backward()
    h = 1e-7
    sp, vp = snnkit.neuron_forward(x, alpha=0.8 + h, **kw)
    sm, vm = snnkit.neuron_forward(x, alpha=0.8 - h, **kw)
    assert torch.equal(sp, sm) and torch.equal(sp, s), "a spike flipped: choose another h"
    fd = ((vp * w).sum() - (vm * w).sum()).item() / (2 * h)
    assert abs(a.grad.item() - fd) <= 1e-6 * max(1.0, abs(fd))
    assert abs(fd) > 1e-2 and s.mean().item() > 0.05


def test_learnable_alpha_is_a_parameter_and_trains():
    torch.manual_seed(6)
    lif = snnkit.LIF(alpha=0.5, learn_alpha=True)
    assert [n for n, _ in lif.named_parameters()] == ["alpha"]
    opt = torch.optim.SGD(lif.parameters(), lr=0.05)
    x = torch.rand(10, 16, 20) * 0.6
    target = torch.full((16, 20), 0.6)  # more firing wants a slower decay: alpha must grow
    losses = []
    for _ in range(5):
        opt.zero_grad()
        s, _ = lif(x)
        loss = ((s.mean(0) - target) ** 2).mean()
        loss.backward()
        assert lif.alpha.grad is not None and lif.alpha.grad.item() != 0
        opt.step()
        losses.append(loss.item())
    assert lif.alpha.item() > 0.5 and losses[-1] < losses[0]


def test_surrogate_formulas_match_library():
    # The Python oracle's formulas and the library's scalar surrogate_grad agree (so the loop tests above
    # compare two independently written implementations of the same surrogate).
    xs = torch.linspace(-1.5, 1.5, 61, dtype=torch.float64)
    for name in SURROGATES:
        for param in [0.0, 0.8]:
            ref = surrogate_grad(name, xs, param, 1.3)
            lib = torch.tensor([snnkit._snnkit.surrogate_grad(name, param, 1.3, float(v)) for v in xs],
                               dtype=torch.float64)
            assert torch.allclose(ref, lib, rtol=1e-12, atol=1e-12), name


def test_threads_follow_torch():
    # the library's kernels run on libtorch's pool, the one torch.set_num_threads() sets (same libtorch_cpu)
    n = torch.get_num_threads()
    try:
        for threads in [1, 2, 3]:
            torch.set_num_threads(threads)
            assert snnkit._snnkit.num_threads() == threads
    finally:
        torch.set_num_threads(n)


def test_thread_count_does_not_change_results():
    torch.manual_seed(7)
    x = (torch.randn(4, 64, 5000) + 0.3).requires_grad_(True)
    n = torch.get_num_threads()
    try:
        out = []
        for threads in [1, 2]:
            torch.set_num_threads(threads)
            s, v = snnkit.LIF(alpha=0.9)(x)
            g, = torch.autograd.grad(s.sum() + v.sum(), x)
            out.append((s, v, g))
        assert all(torch.equal(a, b) for a, b in zip(*out))
    finally:
        torch.set_num_threads(n)


# ---- bad input: one snnkit.Error (a ValueError) with one line ----

def raises(match, fn):
    with pytest.raises(snnkit.Error, match=match) as e:
        fn()
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)


def test_bad_input_messages():
    lif = snnkit.LIF()
    raises(r"x is on meta; only CPU", lambda: lif(torch.empty(4, 2, 3, device="meta")))
    raises(r"v0 is on meta", lambda: lif(torch.zeros(4, 2, 3), v0=torch.zeros(2, 3, device="meta")))
    raises(r"expected time-major \[T, N, \.\.\.\]", lambda: lif(torch.zeros(5)))
    raises(r"dtype Int.*expected float32 or float64", lambda: lif(torch.zeros(4, 2, dtype=torch.int32)))
    raises(r"dtype Half", lambda: lif(torch.zeros(4, 2, dtype=torch.float16)))
    raises(r"NaN in x or v0", lambda: lif(torch.tensor([[0.1], [float("nan")]])))
    raises(r"NaN in x or v0", lambda: lif(torch.zeros(3, 2), v0=torch.tensor([0.0, math.nan])))
    raises(r"v0 has shape \[5\]", lambda: lif(torch.zeros(4, 2, 3), v0=torch.zeros(5)))
    raises(r"T = 0", lambda: lif(torch.zeros(0, 2)))
    raises(r"x must be a torch.Tensor", lambda: lif([[1.0]]))
    raises(r"unknown surrogate 'foo'", lambda: snnkit.LIF(surrogate="foo"))
    raises(r"reset must be 'soft' or 'hard'", lambda: snnkit.IF(reset="zero"))
    raises(r"alpha has shape \[2\]", lambda: snnkit.neuron_forward(torch.zeros(3, 2), alpha=torch.ones(2)))


def test_non_contiguous_inputs_are_handled():
    torch.manual_seed(8)
    base = torch.randn(3, 5, 4, dtype=torch.float64) + 0.4
    x = base.transpose(0, 2)  # [4, 5, 3], not contiguous
    v0 = (torch.randn(3, 5, dtype=torch.float64) * 0.3).t()  # [5, 3], not contiguous
    assert not x.is_contiguous() and not v0.is_contiguous()
    xa = x.clone().requires_grad_(True)
    xb = x.contiguous().requires_grad_(True)
    sa, va = snnkit.LIF(alpha=0.7)(xa, v0=v0)
    sb, vb = snnkit.LIF(alpha=0.7)(xb, v0=v0.contiguous())
    assert torch.equal(sa, sb) and torch.equal(va, vb)
    w = torch.randn_like(sa)
    ga, = torch.autograd.grad((sa * w).sum() + va.sum(), xa)
    gb, = torch.autograd.grad((sb * w).sum() + vb.sum(), xb)
    assert torch.equal(ga, gb)


@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_static_input_with_T_equals_the_repeated_input(reset):
    """lif(x, T=...) on a static x [N, ...] (direct encoding) against lif on x repeated T times, as SpikingJelly
    users write it (x.unsqueeze(0).repeat(T, 1, ...)): spikes and v equal, the gradients of x (the sum over the
    steps), v0 and a learnable alpha within float rounding."""
    torch.manual_seed(9)
    T = 6
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64) * 0.6 + 0.4
    v0 = torch.rand(3, dtype=torch.float64) * 0.5
    ws = torch.randn(T, 4, 3, 5, 5, dtype=torch.float64)
    lif = snnkit.LIF(alpha=0.8, reset=reset, learn_alpha=True)

    def go(static):
        xi = x.clone().requires_grad_(True)
        vi = v0.clone().requires_grad_(True)
        s, v = lif(xi, v0=vi, T=T) if static else lif(xi.unsqueeze(0).repeat(T, 1, 1, 1, 1), v0=vi)
        gx, gv0, ga = torch.autograd.grad((s * ws).sum() + v.sum(), [xi, vi, lif.alpha])
        return s, v, gx, gv0, ga

    a, b = go(True), go(False)
    assert a[0].shape == (T, 4, 3, 5, 5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert 0.05 < a[0].mean().item() < 0.95
    for ga_, gb_ in zip(a[2:], b[2:]):
        assert close(ga_, gb_, 1e-10)


def test_static_input_bad_T():
    raises(r"T must be a positive int", lambda: snnkit.LIF()(torch.zeros(2, 3), T=0))
    raises(r"T must be a positive int", lambda: snnkit.LIF()(torch.zeros(2, 3), T=2.5))
    raises(r"x is on meta", lambda: snnkit.LIF()(torch.zeros(2, 3, device="meta"), T=2))
