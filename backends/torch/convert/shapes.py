"""Converters of torch's shape and indexing operations (see ``functions``)."""

from __future__ import annotations

from typing import Any

import torch

from .layers import NotConvertible

_BIG = 2 ** 62  # torch writes an open slice end as INT64_MAX


# -- shapes -------------------------------------------------------------------------------
def _sizes(args: tuple) -> Any:
    """``x.view(2, 3)`` and ``x.view((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        return tuple(args[0])
    return tuple(args)


def view(cx: Any, x: Any, *shape: Any) -> Any:
    return cx.op("reshape", x, _sizes(shape))


def flatten(cx: Any, x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    rank = cx.rank(x)
    if end_dim in (-1, rank - 1):
        return cx.op("flatten", x, start_dim)
    start = start_dim % rank
    end = end_dim % rank
    sizes = [cx.size(x, d) for d in range(rank)]
    merged = sizes[start]
    for d in range(start + 1, end + 1):
        merged = cx.operator("*", merged, sizes[d])
    return cx.op("reshape", x, tuple(sizes[:start]) + (merged,) + tuple(sizes[end + 1:]))


def permute(cx: Any, x: Any, *dims: Any) -> Any:
    return cx.op("permute_dims", x, _sizes(dims))


def transpose(cx: Any, x: Any, dim0: int, dim1: int) -> Any:
    rank = cx.rank(x)
    axes = list(range(rank))
    a, b = dim0 % rank, dim1 % rank
    axes[a], axes[b] = axes[b], axes[a]
    return cx.op("permute_dims", x, tuple(axes))


def t(cx: Any, x: Any) -> Any:
    return x if cx.rank(x) < 2 else cx.op("permute_dims", x, (1, 0))


def unsqueeze(cx: Any, x: Any, dim: int) -> Any:
    return cx.op("expand_dims", x, dim)


def squeeze(cx: Any, x: Any, dim: Any = None) -> Any:
    if dim is None:
        shape = cx.shape(x)
        dims = tuple(i for i, n in enumerate(shape) if n == 1)
    else:
        dims = tuple(dim) if isinstance(dim, (list, tuple)) else (dim,)
        shape = cx.shape(x)
        dims = tuple(d % len(shape) for d in dims if shape[d] == 1)
    for d in sorted(dims, reverse=True):
        x = cx.op("squeeze", x, d)
    return x


def size(cx: Any, x: Any, dim: Any = None) -> Any:
    if dim is None:
        return cx.op("shape", x)
    return cx.size(x, dim)


def dim(cx: Any, x: Any) -> Any:
    return cx.rank(x)


def getattr_(cx: Any, x: Any, name: str) -> Any:
    if name == "shape":
        return cx.op("shape", x)
    if name == "ndim":
        return cx.rank(x)
    if name == "T":
        return cx.op("permute_dims", x)
    raise NotConvertible(f"the tensor attribute .{name}")


def getitem(cx: Any, x: Any, index: Any) -> Any:
    items = index if isinstance(index, tuple) else (index,)
    if any(cx.is_tensor(i) for i in items):
        if not all(cx.is_tensor(i) or i == slice(None) for i in items):
            raise NotConvertible("indexing with tensors mixed with numbers, None or partial "
                                 "slices")
        return index_(cx, x, [i if cx.is_tensor(i) else None for i in items])
    return cx.getitem(x, index)


def index_(cx: Any, x: Any, indices: Any) -> Any:
    """``x[i, j]`` with integer tensors ``i, j`` (``aten.index.Tensor``; ``None`` entries
    stand for ``:``): NumPy's advanced indexing, for tensor indices next to each other.

    One index tensor is one ``ops.take``; several address the merged axes they index by
    one linear index (``i * size_j + j``). Negative indices wrap as in torch.
    """
    indices = list(indices)
    where = [d for d, i in enumerate(indices) if i is not None]
    if not where:
        return x
    if where != list(range(where[0], where[-1] + 1)):
        raise NotConvertible("tensor indices separated by slices (torch moves their axes "
                             "to the front)")
    if any(cx.dtype(indices[d]) == torch.bool for d in where):
        raise NotConvertible("indexing with a boolean mask (the result's shape depends on "
                             "the values)")
    shape = cx.shape(x)
    first = where[0]
    sizes = [n if n is not None else cx.size(x, d) for d, n in enumerate(shape)]
    linear = None
    for d in where:
        wrapped = cx.operator("%", indices[d], sizes[d])
        linear = wrapped if linear is None else cx.operator(
            "+", cx.operator("*", linear, sizes[d]), wrapped)
    if len(where) > 1:
        x = cx.op("reshape", x, (*sizes[:first], -1, *sizes[where[-1] + 1:]))
    return cx.op("take", x, linear, axis=first)


def diff(cx: Any, x: Any, n: int = 1, dim: int = -1, prepend: Any = None,
         append: Any = None) -> Any:
    """``torch.diff``: ``n`` times the difference of neighbours along ``dim`` (exclusive or
    for booleans, as torch), after concatenating ``prepend`` and ``append``."""
    rank = cx.rank(x)
    boolean = cx.dtype(x) == torch.bool
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = cx.op("concat", parts, axis=dim)
    lead = (slice(None),) * (dim % rank)
    for _ in range(n):
        later = cx.getitem(x, (*lead, slice(1, None)))
        earlier = cx.getitem(x, (*lead, slice(None, -1)))
        x = cx.op("logical_xor", later, earlier) if boolean else cx.operator(
            "-", later, earlier)
    return x


def slice_(cx: Any, x: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1
           ) -> Any:
    if isinstance(end, int) and end >= _BIG:
        end = None
    if start == 0:
        start = None
    if (start, end, step) == (None, None, 1):
        return x
    dim = dim % cx.rank(x)
    return cx.getitem(x, (slice(None),) * dim + (slice(start, end, None if step == 1 else step),))


def select(cx: Any, x: Any, dim: int, index: Any) -> Any:
    dim = dim % cx.rank(x)
    return cx.getitem(x, (slice(None),) * dim + (index,))


def cat(cx: Any, tensors: Any, dim: int = 0) -> Any:
    return cx.op("concat", list(tensors), axis=dim)


def stack(cx: Any, tensors: Any, dim: int = 0) -> Any:
    return cx.op("stack", list(tensors), axis=dim)


def split(cx: Any, x: Any, split_size: Any, dim: int = 0) -> Any:
    total = cx.shape(x)[dim]
    if isinstance(split_size, int) and isinstance(total, int) and total % split_size == 0:
        return cx.op("split", x, total // split_size, axis=dim)
    raise NotConvertible(f"split into unequal parts (size {total}, split_size {split_size})")


def chunk(cx: Any, x: Any, chunks: int, dim: int = 0) -> Any:
    total = cx.shape(x)[dim]
    if isinstance(total, int) and total % chunks == 0:
        return cx.op("split", x, chunks, axis=dim)
    raise NotConvertible(f"chunk into unequal parts (size {total}, chunks {chunks})")


def expand(cx: Any, x: Any, *sizes: Any, **kwargs: Any) -> Any:
    sizes = _sizes(sizes)
    shape = cx.shape(x)
    offset = len(sizes) - len(shape)
    resolved = []
    for i, s in enumerate(sizes):
        if isinstance(s, int) and s == -1:  # keep x's size: static, or read when it runs
            s = shape[i - offset] if shape[i - offset] is not None else cx.size(x, i - offset)
        resolved.append(s)
    return cx.op("broadcast_to", x, tuple(resolved))


def to(cx: Any, x: Any, *args: Any, dtype: Any = None, **kwargs: Any) -> Any:
    for arg in args:
        if isinstance(arg, torch.dtype):
            dtype = arg
        elif isinstance(arg, torch.Tensor) or cx.is_tensor(arg):
            dtype = cx.dtype(arg)
    if dtype is None or dtype == cx.dtype(x):
        return x
    return cx.op("astype", x, cx.dtype_name(dtype))


def float_(cx: Any, x: Any, *args: Any) -> Any:
    return to(cx, x, torch.float32)


def type_as(cx: Any, x: Any, other: Any) -> Any:
    return to(cx, x, cx.dtype(other))


def masked_fill(cx: Any, x: Any, mask: Any, value: Any) -> Any:
    if cx.is_tensor(value):
        raise NotConvertible("masked_fill with a tensor value")
    return cx.op("masked_fill", x, mask, float(value))


def where(cx: Any, condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None:
        raise NotConvertible("torch.where(condition) (indices of the True elements)")
    return cx.op("where", condition, x, y)


def matmul(cx: Any, a: Any, b: Any) -> Any:
    return cx.operator("@", a, b)


def addmm(cx: Any, bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    product = cx.operator("@", a, b)
    if alpha != 1:
        product = cx.operator("*", product, alpha)
    if beta != 1:
        bias = cx.operator("*", bias, beta)
    return cx.operator("+", bias, product)


def baddbmm(cx: Any, bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    return addmm(cx, bias, a, b, beta=beta, alpha=alpha)


