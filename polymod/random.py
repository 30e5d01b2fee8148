"""polymod's random number generator, shared by initialisation, ``pm.rand`` and dropout.

The numbers are drawn with NumPy (float64, then cast), so the same seed gives
bit-identical values on every backend.

Threads: ``pm.seed`` seeds the generator of the calling thread (a context variable,
so an asyncio task keeps its own too): a thread that calls ``pm.seed(n)`` and then
builds models gets the same weights as a serial run, whatever other threads draw
meanwhile. A thread that never called ``pm.seed`` draws from the process-wide
generator, which ``pm.seed`` in the main thread seeds (PyTorch's one global
generator): threads sharing it get numbers in whatever order they draw them.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import selection

# The process-wide generator (the main thread's), and each thread's or task's own.
_shared = np.random.Generator(np.random.PCG64())
_own: contextvars.ContextVar[np.random.Generator | None] = contextvars.ContextVar(
    "polymod_generator", default=None)


def seed(value: int) -> None:
    """Seeds polymod's generator (initial weights, ``pm.rand``/``pm.randn``, initialisers,
    dropout masks) for the calling thread; in the main thread, also the process-wide
    generator that threads which never call ``seed`` share.

    Example:
        >>> import polymod as pm
        >>> pm.seed(0); a = pm.rand(3)
        >>> pm.seed(0); b = pm.rand(3)
        >>> bool((a == b).all())
        True
    """
    global _shared
    fresh = np.random.Generator(np.random.PCG64(value))
    _own.set(fresh)
    if threading.current_thread() is threading.main_thread():
        _shared = fresh


def generator() -> np.random.Generator:
    """The calling thread's generator: its own after ``seed``, else the process-wide one.

    Its ``bit_generator.state`` can be read and set (to save and resume a run).
    """
    own = _own.get()
    return _shared if own is None else own


def normalize_shape(shape: Sequence[Any]) -> tuple[int, ...]:
    """Accepts ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    try:
        return tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise ValueError(f"Expected a shape of integers; received {tuple(shape)!r}.") from None


def _finish(array: np.ndarray, backend: str | None, dtype: Any) -> Any:
    from .dtypes import any_dtype

    return selection.chosen_adapter(backend).from_numpy(array.astype(any_dtype(dtype),
                                                                     copy=False))


def rand(*shape: Any, backend: str | None = None, dtype: Any = "float32") -> Any:
    """Uniform samples in [0, 1) as a native tensor of ``backend`` (default backend if None).

    Example:
        >>> import polymod as pm
        >>> pm.rand(2, 20).shape
        (2, 20)
    """
    return _finish(generator().random(normalize_shape(shape)), backend, dtype)


def randn(*shape: Any, backend: str | None = None, dtype: Any = "float32") -> Any:
    """Standard normal samples as a native tensor of ``backend`` (default backend if None).

    Example:
        >>> import polymod as pm
        >>> pm.randn(3, backend="numpy").dtype
        dtype('float32')
    """
    return _finish(generator().standard_normal(normalize_shape(shape)), backend, dtype)


def dropout_mask(shape: Sequence[int], p: float, dtype: Any) -> np.ndarray:
    """keep / (1 - p) from polymod's seeded generator: the same mask on every backend."""
    keep = generator().random(tuple(shape)) >= p
    return keep.astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype)
