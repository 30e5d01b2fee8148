"""polymod's one random number generator, shared by initialisation and ``pm.rand``.

The numbers are drawn with NumPy (float64, then cast), so the same seed gives
bit-identical values on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import selection

_generator = np.random.Generator(np.random.PCG64())


def seed(value: int) -> None:
    """Seeds polymod's generator (initial weights, ``pm.rand``/``pm.randn``, initialisers).

    Example:
        >>> import polymod as pm
        >>> pm.seed(0); a = pm.rand(3)
        >>> pm.seed(0); b = pm.rand(3)
        >>> bool((a == b).all())
        True
    """
    global _generator
    _generator = np.random.Generator(np.random.PCG64(value))


def generator() -> np.random.Generator:
    """The generator in use (replaced by every ``seed`` call)."""
    return _generator


def normalize_shape(shape: Sequence[Any]) -> tuple[int, ...]:
    """Accepts ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    try:
        return tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise ValueError(f"Expected a shape of integers; received {tuple(shape)!r}.") from None


def _finish(array: np.ndarray, backend: str | None, dtype: Any) -> Any:
    return selection.chosen_adapter(backend).from_numpy(array.astype(dtype, copy=False))


def rand(*shape: Any, backend: str | None = None, dtype: Any = "float32") -> Any:
    """Uniform samples in [0, 1) as a native tensor of ``backend`` (default backend if None).

    Example:
        >>> import polymod as pm
        >>> pm.rand(2, 20).shape
        (2, 20)
    """
    return _finish(_generator.random(normalize_shape(shape)), backend, dtype)


def randn(*shape: Any, backend: str | None = None, dtype: Any = "float32") -> Any:
    """Standard normal samples as a native tensor of ``backend`` (default backend if None).

    Example:
        >>> import polymod as pm
        >>> pm.randn(3, backend="numpy").dtype
        dtype('float32')
    """
    return _finish(_generator.standard_normal(normalize_shape(shape)), backend, dtype)


def dropout_mask(shape: Sequence[int], p: float, dtype: Any) -> np.ndarray:
    """keep / (1 - p) from polymod's seeded generator: the same mask on every backend."""
    keep = _generator.random(tuple(shape)) >= p
    return keep.astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype)
