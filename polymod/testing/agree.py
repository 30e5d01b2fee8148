"""Assertions for tests that run one model on several backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import registry
from ..compare import Record, compare
from ..compare.report import details
from ..dtypes import float_dtype
from ..module import Module
from ..tensor import to_numpy

#: Set by the pytest plugin from ``--backends``: the frameworks ``assert_backends_agree``
#: may use (None: every installed one).
SELECTED_BACKENDS: list[str] | None = None


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
                          backends: Sequence[str] | None = None, mode: str = "eval",
                          rtol: float | None = None, atol: float | None = None,
                          grads: bool = True, trace: bool = False, seed: int = 0,
                          timeout: float | None = None, dtype: Any = None,
                          **kwinputs: Any) -> list[Record]:
    """Builds ``factory()`` from the same seed on each backend and checks the numbers agree.

    Inputs are NumPy data of any dtype, positional and keyword (floats become the
    model's dtype; integer and bool arrays integer and bool tensors). Every output
    leaf is compared with the NumPy reference, and the gradients of ``sum(leaf * R)``
    (``R`` fixed and random per leaf) per parameter across the frameworks, by the rule
    of ``polymod.compare.tolerance`` (relative to each leaf's scale). On failure the
    message names the backend, the output leaf and the first submodule (in order of
    completion) whose output diverges, or the parameter whose gradient differs, with
    the differences. A reference that fails is reported as such.

    Args:
        factory: zero-argument callable returning the model.
        *inputs, **kwinputs: the model's inputs.
        backends: frameworks to compare (default: every installed one, limited by the
            pytest option ``--backends``).
        mode: ``"eval"`` (default) or ``"train"`` (dropout masks from polymod's seeded
            generator, the same on every backend).
        rtol, atol: tolerances (default: by dtype, 1e-5 of the scale for float32).
        grads: compare gradients too.
        trace: compare every submodule's output, not only the model's.
        seed, timeout, dtype: as in ``polymod.compare.compare`` (``dtype="bfloat16"``:
            the model cast after drawing, tolerances scaled to the dtype; backends that
            cannot compute it are left out unless named).

    Returns:
        The per-backend records (``polymod.compare.Record``).

    Example:
        >>> import polymod as pm
        >>> from polymod import nn
        >>> X = pm.rand(2, 20, backend="numpy")
        >>> _ = pm.testing.assert_backends_agree(
        ...     lambda: nn.Sequential(nn.LazyLinear(8), nn.ReLU()), X, backends=["torch"])
    """
    chosen = _chosen(backends)
    if dtype is not None and backends is None:
        wanted = float_dtype(dtype, "assert_backends_agree's dtype")
        chosen = [b for b in chosen if registry.adapter(b).dtype_problem(wanted) is None]
    name = getattr(factory, "__qualname__", None) or type(factory).__name__
    records = compare(factory, inputs, kwinputs, backends=chosen, name=name, mode=mode,
                      rtol=rtol, atol=atol, grads=grads, trace=trace, seed=seed,
                      timeout=timeout, dtype=dtype)
    failures = details(records)
    if failures:
        raise AssertionError(f"Backends disagree ({mode} mode):\n  " + "\n  ".join(failures))
    return records


def _chosen(backends: Sequence[str] | None) -> list[str]:
    names = registry.available_backends() if backends is None else list(backends)
    names = [registry.canonical_name(n) for n in names]
    if SELECTED_BACKENDS is not None:
        names = [n for n in names if n in SELECTED_BACKENDS]
    return names
