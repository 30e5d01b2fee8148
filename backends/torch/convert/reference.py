"""The torch side of ``polymod convert`` / ``polymod compare --from-torch``: example
inputs, running the original, and its gradients (the reference)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def is_model(value: Any) -> bool:
    """Whether ``value`` is a torch module (what ``convert`` takes)."""
    return isinstance(value, torch.nn.Module)


def example_inputs(shape: tuple | None, dtype: str, seed: int) -> list:
    """Example inputs: random floats in [0, 1), or integers in [0, 10)."""
    if shape is None:
        return []
    rng = np.random.Generator(np.random.PCG64(seed))
    if np.dtype(dtype).kind in "iu":
        return [torch.from_numpy(rng.integers(0, 10, shape).astype(dtype))]
    return [torch.from_numpy(rng.random(shape).astype(dtype))]


def to_arrays(inputs: list) -> list[np.ndarray]:
    """The inputs as NumPy arrays."""
    return [x.detach().cpu().numpy() for x in inputs]


def run(module: Any, inputs: list) -> np.ndarray:
    """The original's output (one tensor) as a NumPy array."""
    with torch.no_grad():
        return module(*inputs).detach().cpu().numpy()


def gradients(module: Any, inputs: list, weight: np.ndarray) -> dict[str, np.ndarray]:
    """``d sum(out * weight) / d parameter`` for every trainable parameter."""
    out = module(*inputs)
    loss = (out * torch.from_numpy(weight)).sum()
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [p for _, p in params], allow_unused=True)
    return {n: g.numpy() for (n, _), g in zip(params, grads, strict=True) if g is not None}
