"""Reductions and scans: sum, mean, max, min, var, std, argmax, argmin, logsumexp, cumsum.

Reductions take ``axis`` (None: all axes; an int or a tuple), with ``dim`` as an alias.
"""

from __future__ import annotations

from typing import Any

from ._dispatch import axis_of, floating, normalize_axis, of


def sum(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """Sum over ``axis`` (all axes if None); ``dim`` is an alias."""
    return of(x).sum(x, axis_of(axis, dim), keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """Mean over ``axis`` (all axes if None); ``dim`` is an alias."""
    return floating(x, "mean").mean(x, axis_of(axis, dim), keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """Maximum over ``axis``; NaN wins, as in NumPy and PyTorch."""
    return of(x).max(x, axis_of(axis, dim), keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """Minimum over ``axis``; NaN wins, as in NumPy and PyTorch."""
    return of(x).min(x, axis_of(axis, dim), keepdims)


def var(x: Any, axis: Any = None, keepdims: bool = False, *, correction: float = 0.0,
        dim: Any = None) -> Any:
    """Variance over ``axis``: ``sum((x - mean)**2) / (n - correction)`` (array API).

    ``correction=0`` (the default) is the biased variance; ``correction=1`` is
    PyTorch's default (unbiased). ``n - correction <= 0`` gives inf or NaN, as in
    PyTorch (which also warns; the other backends do not).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> x = pm.asarray([1.0, 2.0, 3.0, 4.0], backend="numpy")
        >>> float(ops.var(x)), float(ops.var(x, correction=1))
        (1.25, 1.6666666269302368)
    """
    return floating(x, "var").var(x, axis_of(axis, dim), keepdims, float(correction))


def std(x: Any, axis: Any = None, keepdims: bool = False, *, correction: float = 0.0,
        dim: Any = None) -> Any:
    """Standard deviation, ``sqrt(var(...))`` with the same arguments.

    Where the variance is 0 the gradient is 0 (as PyTorch's), not NaN.
    """
    adapter = floating(x, "std")
    axis, correction = axis_of(axis, dim), float(correction)
    fused = adapter.FUSED.get("std")
    if fused is not None:
        return fused(x, axis, keepdims, correction)
    variance = adapter.var(x, axis, keepdims, correction)
    zero = variance == 0
    # sqrt'(0) is infinite: take the root of 1 there and select 0, so no NaN flows back
    safe = adapter.where(zero, adapter.ones_like(variance), variance)
    return adapter.where(zero, adapter.zeros_like(variance), adapter.sqrt(safe))


def _arg_reduction(x: Any, axis: Any, keepdims: bool, op: str) -> Any:
    adapter = of(x)
    shape = adapter.shape(x)
    if axis is not None:
        axis = normalize_axis(int(axis), len(shape), op)
    sizes = shape if axis is None else (shape[axis],)
    if any(n == 0 for n in sizes):
        raise ValueError(f"ops.{op} of an empty tensor (shape {tuple(shape)}, axis={axis}) "
                         f"has no answer.")
    return getattr(adapter, op)(x, axis, keepdims)


def argmax(x: Any, axis: int | None = None, keepdims: bool = False, *,
           dim: int | None = None) -> Any:
    """Index (int64) of the largest value along ``axis`` (of the flattened tensor if None).

    Ties give the first index; a NaN counts as the largest value (NumPy's and
    PyTorch's rule) on every backend.

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> int(ops.argmax(pm.asarray([1.0, 5.0, 5.0, 2.0], backend="numpy")))
        1
    """
    return _arg_reduction(x, axis_of(axis, dim), keepdims, "argmax")


def argmin(x: Any, axis: int | None = None, keepdims: bool = False, *,
           dim: int | None = None) -> Any:
    """Index (int64) of the smallest value along ``axis``; NaN counts as the smallest."""
    return _arg_reduction(x, axis_of(axis, dim), keepdims, "argmin")


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow.

    All ``-inf`` gives ``-inf``; a ``+inf`` gives ``+inf``; NaN gives NaN.
    """
    return floating(x, "logsumexp").logsumexp(x, axis_of(axis, dim), keepdims)


def cumsum(x: Any, axis: int | None = None, *, dim: int | None = None) -> Any:
    """Cumulative sum along ``axis`` (may be left out for 1-D input).

    Integer and bool input gives int64 (as PyTorch and NumPy); float keeps its dtype.

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> ops.cumsum(pm.asarray([1, 2, 3], backend="numpy")).tolist()
        [1, 3, 6]
    """
    adapter = of(x)
    ndim = len(adapter.shape(x))
    axis = axis_of(axis, dim)
    if axis is None:
        if ndim != 1:
            raise ValueError(f"ops.cumsum needs axis= for a {ndim}-D tensor (only 1-D input "
                             f"may leave it out).")
        axis = 0
    axis = normalize_axis(int(axis), ndim, "cumsum")
    if adapter.dtype_of(x).kind in "biu":
        x = adapter.astype(x, "int64")
    return adapter.cumsum(x, axis)
