"""Elementwise ops: arithmetic, math functions, ``where``, ``clip``, dtype casts."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._dispatch import dispatch, floating, of


def add(a: Any, b: Any) -> Any:
    """Elementwise a + b."""
    adapter, (a, b) = dispatch(a, b)
    return adapter.add(a, b)


def subtract(a: Any, b: Any) -> Any:
    """Elementwise a - b."""
    adapter, (a, b) = dispatch(a, b)
    return adapter.subtract(a, b)


def multiply(a: Any, b: Any) -> Any:
    """Elementwise a * b."""
    adapter, (a, b) = dispatch(a, b)
    return adapter.multiply(a, b)


def divide(a: Any, b: Any) -> Any:
    """Elementwise a / b."""
    adapter, (a, b) = dispatch(a, b)
    return adapter.divide(a, b)


def maximum(a: Any, b: Any) -> Any:
    """Elementwise maximum."""
    adapter, (a, b) = dispatch(a, b)
    return adapter.maximum(a, b)


def minimum(a: Any, b: Any) -> Any:
    """Elementwise minimum."""
    adapter, (a, b) = dispatch(a, b)
    return adapter.minimum(a, b)


def pow(a: Any, b: Any) -> Any:
    """Elementwise a ** b (either may be a Python number).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> ops.pow(pm.asarray([2.0, 3.0], backend="numpy"), 2).tolist()
        [4.0, 9.0]
    """
    adapter, (a, b) = dispatch(a, b)
    return adapter.pow(a, b)


def square(x: Any) -> Any:
    """Elementwise x * x (the same numbers and gradient as ``torch.square``)."""
    return of(x).multiply(x, x)


def abs(x: Any) -> Any:
    """Elementwise |x|."""
    return of(x).abs(x)


def exp(x: Any) -> Any:
    """Elementwise e**x."""
    return floating(x, "exp").exp(x)


def log(x: Any) -> Any:
    """Elementwise natural logarithm."""
    return floating(x, "log").log(x)


def sqrt(x: Any) -> Any:
    """Elementwise square root."""
    return floating(x, "sqrt").sqrt(x)


def rsqrt(x: Any) -> Any:
    """Elementwise 1 / sqrt(x)."""
    return floating(x, "rsqrt").rsqrt(x)


def erf(x: Any) -> Any:
    """The error function, elementwise."""
    return floating(x, "erf").erf(x)


def sin(x: Any) -> Any:
    """Elementwise sine."""
    return floating(x, "sin").sin(x)


def cos(x: Any) -> Any:
    """Elementwise cosine."""
    return floating(x, "cos").cos(x)


def clip(x: Any, min: Any = None, max: Any = None) -> Any:
    """``x`` limited to ``[min, max]`` (either bound may be None), as ``torch.clamp``.

    NaN stays NaN. The gradient is 1 where ``min <= x <= max`` (bounds included), else
    0, on every backend. Bounds may be numbers or tensors (broadcast against ``x``).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> ops.clip(pm.asarray([-1.0, 0.5, 2.0], backend="numpy"), 0, 1).tolist()
        [0.0, 0.5, 1.0]
    """
    if min is None and max is None:
        raise ValueError("ops.clip needs at least one of min and max; received both None.")
    if isinstance(min, (int, float, type(None))) and isinstance(max, (int, float, type(None))):
        return of(x).clip(x, min, max)
    # tensor bounds: selections, so ties give the gradient to x as torch.clamp does
    if min is not None:
        x = where(x < min, min, x)
    return x if max is None else where(x > max, max, x)


clamp = clip


def where(condition: Any, x: Any, y: Any) -> Any:
    """``x`` where ``condition`` holds, else ``y``."""
    adapter, (condition, x, y) = dispatch(condition, x, y)
    return adapter.where(condition, x, y)


def _truth(adapter: Any, x: Any) -> Any:
    """``x`` as booleans: itself when bool, else ``x != 0`` (NaN is true, as torch)."""
    if isinstance(x, (bool, int, float)):
        return adapter.from_numpy(np.asarray(bool(x)))
    return x if adapter.dtype_of(x).kind == "b" else x != 0


def logical_and(a: Any, b: Any) -> Any:
    """Elementwise ``a and b`` of booleans (numbers: nonzero is true), as
    ``torch.logical_and``; the result is bool.

    Composed from ``where`` (MXNet 1.9 has no boolean ``&``).

    Example:
        >>> import numpy as np
        >>> from polymod import ops
        >>> ops.logical_and(np.array([True, True, False]), np.array([True, False, False]))
        array([ True, False, False])
    """
    adapter, (a, b) = dispatch(a, b)
    a, b = _truth(adapter, a), _truth(adapter, b)
    return adapter.where(a, b, a)


def logical_or(a: Any, b: Any) -> Any:
    """Elementwise ``a or b`` (see ``logical_and``)."""
    adapter, (a, b) = dispatch(a, b)
    a, b = _truth(adapter, a), _truth(adapter, b)
    return adapter.where(a, a, b)


def logical_xor(a: Any, b: Any) -> Any:
    """Elementwise ``a != b`` of truth values (see ``logical_and``)."""
    adapter, (a, b) = dispatch(a, b)
    return _truth(adapter, a) != _truth(adapter, b)


def logical_not(x: Any) -> Any:
    """Elementwise ``not x`` (numbers: ``x == 0``), as ``torch.logical_not``; bool result."""
    adapter = of(x)
    if adapter.dtype_of(x).kind == "b":
        return x != True  # noqa: E712 -- elementwise on every backend (MXNet has no ~ on bool)
    return x == 0


def zeros_like(x: Any) -> Any:
    """Zeros of the same shape, dtype and backend."""
    return of(x).zeros_like(x)


def ones_like(x: Any) -> Any:
    """Ones of the same shape, dtype and backend."""
    return of(x).ones_like(x)


def astype(x: Any, dtype: Any) -> Any:
    """The tensor converted to ``dtype`` (a NumPy dtype or its name)."""
    return of(x).astype(x, dtype)


cast = astype


def stop_gradient(x: Any) -> Any:
    """The same values, cut from gradient recording (PyTorch's ``detach``)."""
    return of(x).stop_gradient(x)
