"""Shared helper of the layer tests: one polymod layer against its torch.nn twin.

PyTorch is the oracle: the polymod layer's ``state_dict`` loads into the torch layer
with ``strict=True``; outputs, input gradients and parameter gradients are compared
(gradients on the frameworks only: NumPy is forward-only).
"""

from __future__ import annotations

import numpy as np
import torch
from conftest import assert_same_numbers

import polymod as pm
from polymod import ops


class Probe(pm.Module):
    """Holds the input as a parameter, so that value_and_grad also gives its gradient."""

    def __init__(self, layer: pm.Module, x: np.ndarray):
        super().__init__()
        self.x = pm.Parameter(x)
        self.layer = layer

    def forward(self):
        return self.layer(self.x)


def torch_state(sd: dict) -> dict:
    return {k: torch.from_numpy(np.array(v)) for k, v in sd.items()}


def check_layer(make_pm, make_torch, x: np.ndarray, backend: str, train: bool = True,
                grads: bool = True, rtol: float = 2e-5, atol: float = 2e-6,
                seed: int = 0, zero_grads: tuple = (), noise: float = 5e-5) -> tuple:
    """Runs the layer on ``backend`` and its torch twin on ``x``; asserts they agree.

    ``zero_grads`` names parameters whose exact gradient is zero (the bias of a conv that
    feeds a BatchNorm in training mode: the normalisation removes any shift). In float32
    each side gets rounding noise of a long sum (about 1e-5 for 288 terms), which two
    backends need not share, so these are checked to be noise (|g| < ``noise``) on both
    sides instead of equal to each other.

    Returns ``(polymod layer, torch layer)`` for further checks (e.g. buffers).
    """
    pm.seed(seed)
    layer = make_pm()
    net = Probe(layer, x).to(backend)
    net.eval()(), net.train(train)  # materialise lazy shapes without a statistics update
    before = layer.state_dict()
    out = net()
    twin = make_torch().eval()
    with torch.no_grad():
        twin(torch.from_numpy(x))  # materialise torch's lazy modules too
    twin.load_state_dict(torch_state(before), strict=True)
    twin.train(train)
    xt = torch.tensor(x, requires_grad=True)
    expected = twin(xt)
    assert_same_numbers(out, expected.detach(), rtol=rtol, atol=atol)
    for name, buf in twin.named_buffers():  # running statistics after one step
        np.testing.assert_allclose(layer.state_dict()[name], buf.numpy(), rtol=rtol,
                                   atol=atol, err_msg=name)
    if not grads or backend == "numpy":
        return layer, twin
    cot = np.random.RandomState(1).uniform(-1, 1, expected.shape).astype(np.float32)
    (expected * torch.from_numpy(cot)).sum().backward()
    cot_native = pm.asarray(cot, backend=backend)
    _, got = pm.value_and_grad(lambda m: ops.sum(m() * cot_native))(net)
    assert_same_numbers(got["x"], xt.grad, rtol=rtol, atol=atol)
    for name, p in twin.named_parameters():
        if train and name in zero_grads:
            assert np.abs(pm.to_numpy(got[f"layer.{name}"])).max() < noise, name
            assert p.grad.abs().max().item() < noise, name
            continue
        assert_same_numbers(got[f"layer.{name}"], p.grad, rtol=rtol, atol=atol)
    return layer, twin
