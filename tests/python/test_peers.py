"""snnkit.LIF as a drop-in for the peers' LIF neurons, with the parameter mapping of README "Python":
SpikingJelly neuron.LIFNode(step_mode='m') and snnTorch snn.Leaky (run from bench/.pydeps). float64 keeps
every potential far from the threshold compared with the rounding differences of the peers' formulas, so
spikes must be equal; gradients must agree where the surrogates are the same."""
import pytest
import torch

import snnkit


from spikingjelly.activation_based import functional as sj_functional  # noqa: E402
from spikingjelly.activation_based import neuron as sj_neuron  # noqa: E402,F811
from spikingjelly.activation_based import surrogate as sj_surrogate  # noqa: E402
import snntorch  # noqa: E402
from snntorch import surrogate as snt_surrogate  # noqa: E402


def inputs(seed, shape=(12, 8, 3, 20)):
    torch.manual_seed(seed)
    x = torch.randn(*shape, dtype=torch.float64) * 0.8 + 0.45
    return x, torch.randn_like(x)


def grads(fn, x, w):
    x = x.detach().clone().requires_grad_(True)
    s, v = fn(x)
    ((s * w).sum() + v.sum()).backward()
    return s.detach(), v.detach(), x.grad


def spikingjelly_lif(tau, decay_input, v_reset, detach_reset, surrogate):
    node = sj_neuron.LIFNode(tau=tau, decay_input=decay_input, v_threshold=1.0, v_reset=v_reset,
                             detach_reset=detach_reset, surrogate_function=surrogate, step_mode="m")

    def run(x):
        sj_functional.reset_net(node)
        s = node(x)
        return s, node.v
    return run


@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("v_reset", [None, 0.0])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("surrogate", ["sigmoid", "atan"])
def test_spikingjelly_lifnode(decay_input, v_reset, detach_reset, surrogate):
    tau = 2.5
    x, w = inputs(1)
    if decay_input:
        x = x * tau  # the same potentials as without decay_input
    sj_sur = sj_surrogate.Sigmoid() if surrogate == "sigmoid" else sj_surrogate.ATan()
    peer = spikingjelly_lif(tau, decay_input, v_reset, detach_reset, sj_sur)
    # Mapping: alpha = 1 - 1/tau; decay_input scales the input by 1/tau; v_reset None -> soft, 0 -> hard.
    lif = snnkit.LIF(alpha=1.0 - 1.0 / tau, v_th=1.0, reset="soft" if v_reset is None else "hard",
                     detach_reset=detach_reset, surrogate=surrogate)
    scale = 1.0 / tau if decay_input else 1.0
    s, v, g = grads(lambda x: lif(x * scale), x, w)
    ps, pv, pg = grads(peer, x, w)
    assert torch.equal(s, ps), f"{(s != ps).sum().item()} spikes differ"
    assert 0.05 < s.mean().item() < 0.95
    assert torch.allclose(v, pv, rtol=1e-9, atol=1e-12)
    assert torch.allclose(g, pg, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero"])
def test_snntorch_leaky(reset_mechanism):
    beta = 0.75  # snnTorch keeps beta as a float32 tensor: a value exact in float32 keeps float64 runs equal
    torch.manual_seed(2)
    # x in [-0.2, 1.0): every potential stays below 2 * threshold (snnTorch's reset_delay=False decides the
    # spike after subtracting the previous step's pending reset: a potential left above threshold by a
    # subtract reset fires differently there, see test_what_does_not_map)
    x = torch.rand(12, 8, 3, 20, dtype=torch.float64) * 1.2 - 0.2
    w = torch.randn_like(x)
    # Mapping: beta -> alpha, threshold -> v_th, subtract -> soft, zero -> hard, reset_delay=False; snnTorch's
    # default ATan(alpha=2) is snnkit's atan; its reset is not detached (detach_reset=False).
    peer_node = snntorch.Leaky(beta=beta, threshold=1.0, reset_mechanism=reset_mechanism, reset_delay=False,
                               spike_grad=snt_surrogate.atan())

    def peer(x):
        mem = peer_node.init_leaky()
        out = []
        for xt in x.unbind(0):
            spk, mem = peer_node(xt, mem)
            out.append(spk)
        return torch.stack(out), mem

    lif = snnkit.LIF(alpha=beta, v_th=1.0, reset="soft" if reset_mechanism == "subtract" else "hard")
    s, v, g = grads(lif, x, w)
    ps, pv, pg = grads(peer, x, w)
    ps = ps.to(s.dtype)  # snnTorch's spikes come out float32
    assert torch.equal(s, ps), f"{(s != ps).sum().item()} spikes differ"
    assert 0.05 < s.mean().item() < 0.95
    assert torch.allclose(v, pv, rtol=1e-9, atol=1e-12)
    # snnTorch's spike (and so the gradient through it) is float32 even for float64 input: float32 tolerance
    assert torch.allclose(g, pg, rtol=1e-4, atol=1e-5)


def test_what_does_not_map():
    # snnTorch fires on mem > threshold, snnkit on >=: a potential exactly at the threshold differs.
    x = torch.tensor([[[1.0]]], dtype=torch.float64)
    s, _ = snnkit.LIF(alpha=0.5)(x)
    spk, _ = snntorch.Leaky(beta=0.5, reset_delay=False)(x[0], torch.zeros(1, 1, dtype=torch.float64))
    assert s.item() == 1.0 and spk.item() == 0.0
    # snnTorch's default reset_delay=True subtracts the threshold one step late and undecayed: no snnkit form.
    x, _ = inputs(3)
    node = snntorch.Leaky(beta=0.8)  # reset_delay=True
    mem, out = node.init_leaky(), []
    for xt in x.unbind(0):
        spk, mem = node(xt, mem)
        out.append(spk)
    assert not torch.equal(torch.stack(out), snnkit.LIF(alpha=0.8)(x)[0])
    # SpikingJelly's v_reset != 0 (reset to a nonzero potential) has no snnkit form either (hard reset is to 0).
    peer = spikingjelly_lif(2.0, False, -0.3, False, sj_surrogate.Sigmoid())
    assert not torch.equal(peer(x)[1], snnkit.LIF(alpha=0.5, reset="hard")(x)[1])
    # snnTorch's reset_delay=False with subtract: a potential still above threshold after its reset (u >= 2
    # thresholds) is tested again only after the next step subtracts it once more.
    x = torch.tensor([[[2.5]], [[0.5]]], dtype=torch.float64)
    node = snntorch.Leaky(beta=1.0, reset_delay=False)
    mem, out = node.init_leaky(), []
    for xt in x.unbind(0):
        spk, mem = node(xt, mem)
        out.append(spk.item())
    assert out == [1.0, 0.0] and snnkit.IF()(x)[0].flatten().tolist() == [1.0, 1.0]
