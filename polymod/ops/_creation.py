"""New tensors from numbers: ``arange`` and ``full`` (on ``like``'s backend and device)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import selection
from ._dispatch import of


def _target(like: Any, backend: str | None) -> tuple[Any, Any]:
    """The adapter and device for a new tensor: ``like``'s, else ``backend``'s (default)."""
    if like is not None:
        adapter = of(like)
        return adapter, adapter.device_of(like)
    return selection.chosen_adapter(backend), None


def _default_dtype(*values: Any) -> np.dtype:
    """int64 for ints, bool for bools, else float32 (PyTorch's defaults)."""
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return np.dtype(bool)
    if all(isinstance(v, (int, np.integer)) for v in values):
        return np.dtype(np.int64)
    return np.dtype(np.float32)


def arange(start: Any, stop: Any = None, step: Any = 1, *, dtype: Any = None,
           like: Any = None, backend: str | None = None) -> Any:
    """Evenly spaced values in ``[start, stop)``, as ``np.arange`` / ``torch.arange``.

    The tensor is on ``like``'s backend and device when given, else on ``backend``
    (the default backend if None). The dtype is int64 when every argument is an int
    (NumPy and PyTorch), else float32 (PyTorch's default), unless ``dtype`` says.

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> ops.arange(4, backend="numpy")
        array([0, 1, 2, 3])
        >>> ops.arange(0, 1, 0.25, backend="numpy").tolist()
        [0.0, 0.25, 0.5, 0.75]
    """
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("ops.arange: step must not be 0.")
    dtype = _default_dtype(start, stop, step) if dtype is None else np.dtype(dtype)
    if dtype.kind == "f":  # the values are computed in float64 and then rounded once
        values = np.arange(float(start), float(stop), float(step)).astype(dtype)
    else:
        values = np.arange(start, stop, step).astype(dtype)
    adapter, device = _target(like, backend)
    return adapter.from_numpy(values, device)


def full(shape: Any, fill_value: Any, *, dtype: Any = None, like: Any = None,
         backend: str | None = None) -> Any:
    """A tensor of ``shape`` filled with ``fill_value`` (placed as ``arange``'s).

    The dtype is bool, int64 or float32 after ``fill_value`` (PyTorch's rule) unless
    ``dtype`` says.

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> ops.full((2,), float("-inf"), backend="numpy").tolist()
        [-inf, -inf]
    """
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
    dtype = _default_dtype(fill_value) if dtype is None else np.dtype(dtype)
    adapter, device = _target(like, backend)
    return adapter.from_numpy(np.full(shape, fill_value, dtype), device)
