"""The training-step benchmark's swap (bench/py/sj_convnet.py), small: a SpikingJelly conv net (conv-BN-LIF blocks,
multi-step, torch backend) and the same net with its LIFNodes replaced by snnkit.LIF per the README mapping give
the same loss for the first 20 SGD steps from the same weights and batches (float tolerance), and the losses move
(the nets learn, spikes flow), so the comparison is not of two constant curves."""
import os
import sys

import pytest
import torch

import snnkit

SOURCE = os.environ.get("SNNKIT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "bench", "py"))
pytest.importorskip("spikingjelly")
import sj_convnet  # noqa: E402


def test_swap_replaces_every_lif_node_and_nothing_else():
    from spikingjelly.activation_based import neuron
    torch.manual_seed(0)
    sj = sj_convnet.build_sj(width=4, size=16)
    sk = sj_convnet.swap_lif(sj)
    kinds = [type(m).__name__ for m in sk.children()]
    assert kinds.count("SnnkitLIF") == 4 and not any(isinstance(m, neuron.LIFNode) for m in sk.modules())
    assert [k for k in kinds if k != "SnnkitLIF"] == [type(m).__name__ for m in sj.children()
                                                      if not isinstance(m, neuron.LIFNode)]
    assert all(isinstance(m.lif, snnkit.LIF) for m in sk.children() if type(m).__name__ == "SnnkitLIF")
    for (na, a), (nb, b) in zip(sj.state_dict().items(), sk.state_dict().items()):
        assert na == nb and torch.equal(a, b)


def test_first_20_losses_equal():
    torch.set_num_threads(2)
    la, lb = sj_convnet.loss_curves(steps=20, width=8, size=16, batch=8, T=4)
    assert len(la) == 20
    for i, (a, b) in enumerate(zip(la, lb)):
        assert abs(a - b) <= 1e-5 * abs(a), (i, a, b)
    assert min(la[-4:]) < la[0] - 0.3, la  # the net learns: the curves are not flat
