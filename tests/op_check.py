"""Shared helper of the op tests: one ``polymod.ops`` call against the same torch call.

PyTorch is the oracle. The inputs are NumPy arrays; float ones become parameters of a
probe module (so ``pm.value_and_grad`` gives their gradients), the others constants.
Outputs are compared on every backend (values, shape and dtype), gradients of
``sum(out * R)`` for a fixed random ``R`` on the frameworks (NumPy is forward-only).
"""

from __future__ import annotations

import numpy as np
import torch
from conftest import assert_same_numbers

import polymod as pm
from polymod import ops


class OpProbe(pm.Module):
    """Holds the op's array arguments (float ones as parameters) and calls the op."""

    def __init__(self, fn, arrays):
        super().__init__()
        self.fn = fn
        self.count = len(arrays)
        for i, array in enumerate(arrays):
            if array.dtype.kind == "f":
                setattr(self, f"x{i}", pm.Parameter(array, dtype=array.dtype))
            else:
                setattr(self, f"x{i}", pm.constant(array, dtype=array.dtype))

    def forward(self):
        return self.fn(*(getattr(self, f"x{i}") for i in range(self.count)))


def check_op(ours, theirs, arrays, backend: str, grads: bool = True, rtol: float = 2e-5,
             atol: float = 2e-6, grad_rtol: float | None = None,
             grad_atol: float | None = None) -> None:
    """Asserts that ``ours(*tensors)`` on ``backend`` equals ``theirs(*torch tensors)``."""
    arrays = [np.asarray(a) for a in arrays]
    pm.seed(0)
    net = OpProbe(ours, arrays).to(backend)
    out = net()
    tensors = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    expected = theirs(*tensors)
    assert_same_numbers(out, expected.detach(), rtol=rtol, atol=atol)
    assert pm.to_numpy(out).dtype == expected.detach().numpy().dtype, (
        f"dtype {pm.to_numpy(out).dtype} != torch's {expected.dtype}")
    differentiable = expected.requires_grad and expected.dtype.is_floating_point
    if not grads or backend == "numpy" or not differentiable:
        return
    cot = np.random.RandomState(1).uniform(-1, 1, tuple(expected.shape)).astype(
        expected.detach().numpy().dtype)
    (expected * torch.from_numpy(cot)).sum().backward()
    cot_native = pm.asarray(cot, backend=backend, dtype=cot.dtype)
    _, got = pm.value_and_grad(lambda m: ops.sum(m() * cot_native))(net)
    for i, t in enumerate(tensors):
        if t.requires_grad:
            want = t.grad if t.grad is not None else torch.zeros_like(t)
            assert_same_numbers(got[f"x{i}"], want, rtol=grad_rtol or rtol,
                                atol=grad_atol or atol)
