"""Assertions for tests that run one model on several backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..compare import compare
from ..module import Module
from ..tensor import to_numpy


def assert_close(actual: Any, expected: Any, rtol: float = 2e-5, atol: float = 1e-6) -> None:
    """Asserts two tensors of any backends (or NumPy arrays) are equal within tolerance.

    NaN equals NaN; shapes must match exactly.

    Example:
        >>> import polymod as pm
        >>> pm.testing.assert_close(pm.ones(2, backend="numpy"), [1.0, 1.0])
    """
    a, b = to_numpy(actual), to_numpy(expected)
    if a.shape != b.shape:
        raise AssertionError(f"Shapes differ: {a.shape} vs {b.shape}.")
    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol,
                               atol=atol, equal_nan=True)


def assert_backends_agree(factory: Callable[[], Module], *inputs: Any,
                          backends: Sequence[str] | None = None, rtol: float = 2e-5,
                          atol: float = 1e-6, grads: bool = True, seed: int = 0) -> list:
    """Builds ``factory()`` from the same seed on each backend and checks the numbers agree.

    Outputs are compared with the NumPy reference; gradients of ``sum(output)``
    with respect to every parameter are compared across the frameworks (NumPy is
    forward-only). On failure the message names the backend, the first submodule
    (dotted path, in order of completion) whose output diverges, and by how much.

    Returns:
        The per-backend records (``polymod.compare.Record``).

    Example:
        >>> import polymod as pm
        >>> from polymod import nn
        >>> X = pm.rand(2, 20, backend="numpy")
        >>> _ = pm.testing.assert_backends_agree(
        ...     lambda: nn.Sequential(nn.LazyLinear(8), nn.ReLU()), X, backends=["torch"])
    """
    records = compare(factory, inputs, backends=backends, rtol=rtol, atol=atol, grads=grads,
                      seed=seed)
    failures = []
    for record in records:
        if record.ok:
            continue
        if record.error:
            failures.append(f"{record.backend}: {record.error}")
            continue
        where = record.first_divergence
        where = "the whole model" if where in ("", None) else f"submodule '{where}'"
        failures.append(
            f"{record.backend}: output differs from the NumPy reference first at {where}; "
            f"max |diff| {record.max_abs_diff:.3g}, max rel {record.max_rel_diff:.3g}"
            + (f"; gradient max |diff| {record.grad_max_abs_diff:.3g}"
               if record.grad_max_abs_diff is not None else ""))
    if failures:
        raise AssertionError(f"Backends disagree (rtol={rtol:g}, atol={atol:g}):\n  "
                             + "\n  ".join(failures))
    return records
