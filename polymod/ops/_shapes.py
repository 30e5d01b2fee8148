"""Shapes and indexing: reshape, transpose, join and split, pad, broadcast, gather, tril."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError
from ._dispatch import axis_of, dispatch, normalize_axis, of, on


def reshape(x: Any, shape: Any) -> Any:
    """A tensor with the same data and a new shape (-1 infers one size)."""
    return of(x).reshape(x, tuple(shape))


def permute_dims(x: Any, axes: Any = None) -> Any:
    """Reorders axes (reverses them if ``axes`` is None)."""
    return of(x).permute_dims(x, None if axes is None else tuple(axes))


transpose = permute_dims


def flatten(x: Any, start_dim: int = 1) -> Any:
    """Merges the axes from ``start_dim`` on into one."""
    return of(x).flatten(x, start_dim)


def concat(xs: Any, axis: int = 0, *, dim: int | None = None) -> Any:
    """Joins tensors along an existing axis."""
    adapter, xs = dispatch(*xs)  # NumPy arrays join the tensors' backend
    return adapter.concat(list(xs), axis_of(axis, dim))


def stack(xs: Any, axis: int = 0, *, dim: int | None = None) -> Any:
    """Joins tensors along a new axis."""
    adapter, xs = dispatch(*xs)
    return adapter.stack(list(xs), axis_of(axis, dim))


def split(x: Any, sections: int, axis: int = 0, *, dim: int | None = None) -> list:
    """Splits ``x`` into ``sections`` equal parts along ``axis`` (NumPy's ``split``)."""
    adapter = of(x)
    axis = axis_of(axis, dim)
    size = adapter.shape(x)[axis]
    if size is not None and size % sections:
        raise ShapeError(f"ops.split: an axis of size {size} does not split into {sections} "
                         f"equal sections.")
    return adapter.split(x, sections, axis)


def expand_dims(x: Any, axis: int = 0) -> Any:
    """Inserts an axis of size 1 at ``axis`` (PyTorch's ``unsqueeze``)."""
    return of(x).expand_dims(x, axis)


def squeeze(x: Any, axis: int) -> Any:
    """Removes the axis ``axis`` of size 1."""
    return of(x).squeeze(x, axis)


def shape(x: Any) -> tuple:
    """The shape as a tuple of ints (None for unknown sizes in a traced graph)."""
    return of(x).shape(x)


def take(x: Any, indices: Any, axis: int = 0) -> Any:
    """Elements of ``x`` at integer ``indices`` along ``axis`` (``np.take``'s result shape).

    Out-of-range indices raise on NumPy, torch and TensorFlow; MXNet clips them.
    """
    adapter = of(x)
    return adapter.take(x, on(adapter, indices, x), axis)


def masked_fill(x: Any, mask: Any, value: float) -> Any:
    """``x`` with ``value`` where the boolean ``mask`` (broadcast to ``x``) is True."""
    adapter = of(x)
    return adapter.masked_fill(x, on(adapter, mask, x), value)


def take_along_axis(x: Any, indices: Any, axis: int = -1) -> Any:
    """Elements of ``x`` at ``indices`` along ``axis``: ``torch.gather(x, axis, indices)``.

    ``indices`` is an integer tensor (or NumPy array) of ``x``'s rank; the result has
    its shape. As in ``torch.gather``, its other axes may be shorter than ``x``'s (the
    leading part of ``x`` is used). Indices must lie in ``[0, x.shape[axis])``: NumPy,
    torch and TensorFlow raise otherwise, MXNet clips.

    Example:
        >>> import numpy as np, polymod as pm
        >>> from polymod import ops
        >>> x = pm.asarray([[1.0, 2.0], [3.0, 4.0]], backend="numpy")
        >>> ops.take_along_axis(x, np.array([[1], [0]]), axis=1).tolist()
        [[2.0], [3.0]]
    """
    adapter, (x, indices) = dispatch(x, indices, cast=False)
    x_shape, i_shape = adapter.shape(x), adapter.shape(indices)
    if len(x_shape) != len(i_shape):
        raise ValueError(f"ops.take_along_axis expects indices of the same rank as x "
                         f"({len(x_shape)}); received indices of shape {tuple(i_shape)}.")
    axis = normalize_axis(axis, len(x_shape), "take_along_axis")
    if any(i != n for d, (i, n) in enumerate(zip(i_shape, x_shape, strict=True)) if d != axis):
        if any(i > n for d, (i, n) in enumerate(zip(i_shape, x_shape, strict=True))
               if d != axis):
            raise ValueError(f"ops.take_along_axis: indices of shape {tuple(i_shape)} are "
                             f"larger than x {tuple(x_shape)} outside axis {axis}.")
        x = x[tuple(slice(None) if d == axis else slice(0, i) for d, i in enumerate(i_shape))]
    return adapter.take_along_axis(x, indices, axis)



def broadcast_to(x: Any, shape: Any) -> Any:
    """``x`` repeated (without copying where the framework can) to ``shape``.

    A size of -1 keeps that axis's size (PyTorch's ``expand``), so ``expand`` is an
    alias.
    """
    adapter = of(x)
    old = adapter.shape(x)
    shape = tuple(int(n) for n in shape)
    lead = len(shape) - len(old)
    if lead < 0:
        raise ValueError(f"ops.broadcast_to: shape {shape} has fewer axes than the tensor "
                         f"{tuple(old)}.")
    if -1 in shape:
        if -1 in shape[:lead]:
            raise ValueError(f"ops.broadcast_to: -1 is not allowed for a new leading axis; "
                             f"received shape {shape} for a tensor of shape {tuple(old)}.")
        shape = shape[:lead] + tuple(o if n == -1 else n for o, n in zip(old, shape[lead:],
                                                                          strict=True))
    return adapter.broadcast_to(x, shape)


expand = broadcast_to


def tril(x: Any, k: int = 0) -> Any:
    """``x`` with the entries above the ``k``-th diagonal of its last two axes set to 0.

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> ops.tril(pm.ones(2, 2, backend="numpy")).tolist()
        [[1.0, 0.0], [1.0, 1.0]]
    """
    return of(x).tril(x, int(k))


def triu(x: Any, k: int = 0) -> Any:
    """``x`` with the entries below the ``k``-th diagonal of its last two axes set to 0."""
    return of(x).triu(x, int(k))


def einsum(subscripts: str, *operands: Any) -> Any:
    """Einstein summation (``np.einsum``'s notation, ``...`` included).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> a = pm.ones(2, 3, backend="numpy")
        >>> ops.einsum("ij,kj->ik", a, a).tolist()
        [[3.0, 3.0], [3.0, 3.0]]
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"ops.einsum expects the subscripts string first; received "
                        f"{type(subscripts).__name__}.")
    adapter, operands = dispatch(*operands)
    return adapter.einsum(subscripts, *operands)


_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "edge": "edge",
              "circular": "wrap", "wrap": "wrap"}


def _pad_pairs(pad_width: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    """NumPy's forms: an int, one ``(before, after)`` pair, or one pair per axis."""
    array = np.asarray(pad_width)
    if array.dtype.kind not in "iu" and not (array.size == 0 and ndim == 0):
        raise ValueError(f"ops.pad: pad_width must hold ints; received {pad_width!r}.")
    if array.ndim == 0:
        array = np.full((ndim, 2), int(array))
    elif array.shape == (2,):
        array = np.tile(array, (ndim, 1))
    elif array.shape == (1, 2):
        array = np.tile(array[0], (ndim, 1))
    if array.shape != (ndim, 2):
        raise ValueError(f"ops.pad: pad_width must be an int, a (before, after) pair or "
                         f"{ndim} such pairs (one per axis); received {pad_width!r}.")
    if (array < 0).any():
        raise ValueError(f"ops.pad: pad widths must be >= 0 (slice the tensor to crop); "
                         f"received {pad_width!r}.")
    return tuple((int(lo), int(hi)) for lo, hi in array)


def pad(x: Any, pad_width: Any, mode: str = "constant", value: float = 0.0) -> Any:
    """``x`` padded by ``pad_width`` (NumPy's form): per axis ``(before, after)``, or one
    pair for every axis, or an int.

    ``mode``: ``'constant'`` (with ``value``), ``'reflect'`` (mirror without the edge),
    ``'replicate'`` (alias ``'edge'``: repeat the edge) or ``'circular'`` (alias
    ``'wrap'``). A PyTorch ``F.pad`` list (last axis first) converts with
    ``pad_width = [(0, 0)] * (x.ndim - len(p) // 2) + [(p[i], p[i + 1]) for i in
    reversed(range(0, len(p), 2))]``.

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> x = pm.asarray([1.0, 2.0, 3.0], backend="numpy")
        >>> ops.pad(x, (1, 2)).tolist(), ops.pad(x, 1, mode="reflect").tolist()
        ([0.0, 1.0, 2.0, 3.0, 0.0, 0.0], [2.0, 1.0, 2.0, 3.0, 2.0])
    """
    adapter = of(x)
    shape = adapter.shape(x)
    pairs = _pad_pairs(pad_width, len(shape))
    if mode == "constant":
        return adapter.pad(x, pairs, float(value)) if any(lo or hi for lo, hi in pairs) else x
    if mode not in _PAD_MODES:
        raise ValueError(f"ops.pad: mode must be 'constant', 'reflect', 'replicate' or "
                         f"'circular'; received {mode!r}.")
    # The other modes are a gather along each padded axis: its indices are NumPy's own
    # padding of arange(n), so every backend reads the same elements (and gradients add
    # up where an element is read twice).
    for axis, (lo, hi) in enumerate(pairs):
        if lo or hi:
            n = shape[axis]
            if mode == "reflect" and (lo >= n or hi >= n):
                raise ValueError(f"ops.pad: reflect padding ({lo}, {hi}) must be smaller "
                                 f"than the axis size {n} (axis {axis}).")
            index = np.pad(np.arange(n), (lo, hi), mode=_PAD_MODES[mode])
            x = adapter.take(x, adapter.from_numpy(index, adapter.device_of(x)), axis)
    return x
