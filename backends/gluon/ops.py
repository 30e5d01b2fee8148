"""The backend-neutral ops (``polymod.ops``): elementwise, reductions, shapes, indexing."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .framework import autograd, mnp, mx, npx

relu = npx.relu  # not npx.activation: its fused relu turns NaN into 0


def sigmoid(x: Any) -> Any:
    # The fused activation is ~4x faster than npx.sigmoid on large inputs and, unlike the
    # fused relu, keeps NaN (checked in tests/test_backend_api.py's NaN tests); but it
    # fails, asynchronously, on an empty array.
    return npx.activation(x, act_type="sigmoid") if x.size else npx.sigmoid(x)


tanh = mnp.tanh
matmul = mnp.matmul
add = mnp.add
subtract = mnp.subtract
multiply = mnp.multiply
divide = mnp.divide
maximum = mnp.maximum
minimum = mnp.minimum
abs = mnp.abs
exp = mnp.exp
log = mnp.log
sqrt = mnp.sqrt
zeros_like = mnp.zeros_like
ones_like = mnp.ones_like


def gelu(x: Any) -> Any:
    return npx.leaky_relu(x, act_type="gelu")


def _nan_rows(out: Any, axis: int) -> Any:
    """``out`` (a softmax or log-softmax) with NaN across every row where it has one.

    MXNet's softmax keeps a row's other entries where it gives a NaN (a NaN input, an
    infinite maximum, a row of -inf); PyTorch and NumPy make the whole row NaN. The rows
    are found from the output, over the last axis as a matmul with ones, and marked by
    adding a per-row 0 or NaN: MXNet's reductions over an axis and its broadcasting
    ``where`` took about 40 times the softmax itself (most of the Gluon encoder's gap)."""
    with autograd.pause():
        if axis in (-1, out.ndim - 1) and out.dtype in (np.float32, np.float64):
            ones = mnp.ones((out.shape[-1], 1), dtype=out.dtype, ctx=out.ctx)
            marks = mnp.matmul(out, ones)
        else:  # MXNet's max keeps NaN; its matmul does not take float16
            marks = mnp.max(out, axis=axis, keepdims=True)
        marks = mnp.where(mnp.isnan(marks), mnp.full(marks.shape, np.nan, dtype=out.dtype,
                                                     ctx=out.ctx), mnp.zeros_like(marks))
    return out + marks


def softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(npx.softmax(x, axis=axis), axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(npx.log_softmax(x, axis=axis), axis)


def _reduce_empty(fn: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # MXNet's sum/mean kernels fail (asynchronously) on zero-size input: the result of
    # reducing nothing is known without them (0 for a sum, NaN for a mean, as in torch).
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = fn(np.zeros(x.shape, x.dtype), axis=axis, keepdims=keepdims)
    return mnp.array(np.asarray(out, x.dtype), dtype=x.dtype, ctx=x.ctx)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    if not x.size:
        return _reduce_empty(np.sum, x, axis, keepdims)
    return mnp.sum(x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    if not x.size:
        return _reduce_empty(np.mean, x, axis, keepdims)
    return mnp.mean(x, axis=axis, keepdims=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return mnp.max(x, axis=axis, keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return mnp.min(x, axis=axis, keepdims=keepdims)



def reshape(x: Any, shape: tuple) -> Any:
    return mnp.reshape(x, shape)


def permute_dims(x: Any, axes: Any = None) -> Any:
    return mnp.transpose(x, axes)


def concat(xs: list, axis: int = 0) -> Any:
    return mnp.concatenate(list(xs), axis=axis)


def stack(xs: list, axis: int = 0) -> Any:
    return mnp.stack(list(xs), axis=axis)


def astype(x: Any, dtype: Any) -> Any:
    return x.astype(np.dtype(dtype).name)


def flatten(x: Any, start_dim: int) -> Any:
    return x.reshape(x.shape[:start_dim] + (int(np.prod(x.shape[start_dim:])),))


# MXNet's take truncates float indices (1.7 picks row 1) where the others refuse them
_FLOAT_DTYPES = frozenset(np.dtype(t) for t in ("float16", "float32", "float64"))


def _integer(indices: Any) -> Any:
    if getattr(indices, "dtype", None) in _FLOAT_DTYPES:
        raise TypeError(f"indices must be integers; received dtype {indices.dtype}")
    return indices


def take(x: Any, indices: Any, axis: int = 0) -> Any:
    return mnp.take(x, _integer(indices), axis=axis)  # out-of-range indices are clipped


def embedding(indices: Any, weight: Any, padding_idx: Any = None) -> Any:
    out = mnp.take(weight, _integer(indices), axis=0)
    if padding_idx is None:
        return out
    # PyTorch's padding_idx: that row gets no gradient
    pad = mnp.expand_dims(indices == padding_idx, -1)
    return mnp.where(pad, out.detach(), out)


def split(x: Any, sections: int, axis: int = 0) -> list:
    return list(mnp.split(x, sections, axis=axis))


def masked_fill(x: Any, mask: Any, value: float) -> Any:
    # not mnp.where(mask, value, x): MXNet 1.9's backward of a Python-scalar branch
    # inverts the condition (wrong gradients); a 1-element array branch is right
    return mnp.where(mask, mnp.full((1,), value, dtype=x.dtype, ctx=x.ctx), x)


def expand_dims(x: Any, axis: int) -> Any:
    return mnp.expand_dims(x, axis)


def squeeze(x: Any, axis: int) -> Any:
    return mnp.squeeze(x, axis)


def stop_gradient(x: Any) -> Any:
    return x.detach()


def where(condition: Any, x: Any, y: Any) -> Any:
    # MXNet 1.9's backward of where() with a Python-scalar branch inverts the condition
    # (wrong gradients): make scalars 1-element arrays, which broadcast correctly.
    if not condition.size:  # MXNet broadcasts (0, n) with (1,) to (1, n), or crashes
        shapes = [a.shape for a in (condition, x, y) if isinstance(a, mnp.ndarray)]
        dtype = next((a.dtype for a in (x, y) if isinstance(a, mnp.ndarray)), np.float32)
        return mnp.zeros(np.broadcast_shapes(*shapes), dtype=dtype, ctx=_ctx_of(x, y))
    if not isinstance(x, mnp.ndarray):
        x = mnp.full((1,), x, dtype=getattr(y, "dtype", None), ctx=_ctx_of(condition, y))
    if not isinstance(y, mnp.ndarray):
        y = mnp.full((1,), y, dtype=x.dtype, ctx=_ctx_of(condition, x))
    return mnp.where(condition, x, y)


def _ctx_of(*arrays: Any) -> Any:
    for a in arrays:
        if isinstance(a, mnp.ndarray):
            return a.ctx
    return mx.cpu()


# -- math, reductions, indexing added for real models (pm.from_torch) ------------------------
erf = npx.erf
sin = mnp.sin
cos = mnp.cos


def rsqrt(x: Any) -> Any:
    return 1.0 / mnp.sqrt(x)  # MXNet's numpy mode has no rsqrt


def pow(a: Any, b: Any) -> Any:
    return a ** b  # the operator takes a Python number on either side


def clip(x: Any, min: Any, max: Any) -> Any:
    return mnp.clip(x, min, max)  # keeps NaN; gradient 1 where min <= x <= max


def var(x: Any, axis: Any, keepdims: bool, correction: float) -> Any:
    # not mnp.var: MXNet 1.9 gives it no gradient (zeros)
    if not x.size:
        return _reduce_empty(np.var, x, axis, keepdims)
    centred = x - mnp.mean(x, axis=axis, keepdims=True)
    squares = mnp.sum(centred * centred, axis=axis, keepdims=keepdims)
    return squares / (x.size // squares.size - correction)  # 0 / 0 = NaN, as in torch


def _arg(fn: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    out = fn(x, axis=axis)  # MXNet's argmax/argmin take no keepdims; NaN handled as NumPy
    if keepdims:
        out = out.reshape((1,) * x.ndim) if axis is None else mnp.expand_dims(out, axis)
    return out.astype("int64")


def argmax(x: Any, axis: Any, keepdims: bool) -> Any:
    return _arg(mnp.argmax, x, axis, keepdims)


def argmin(x: Any, axis: Any, keepdims: bool) -> Any:
    return _arg(mnp.argmin, x, axis, keepdims)


def logsumexp(x: Any, axis: Any, keepdims: bool) -> Any:
    if not x.size:
        return _reduce_empty(lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis,
                                                                     keepdims=keepdims)),
                             x, axis, keepdims)
    peak = mnp.max(x, axis=axis, keepdims=True).detach()
    infinite = mnp.isinf(peak)
    shift = mnp.where(infinite, mnp.zeros((1,), dtype=x.dtype, ctx=x.ctx), peak)
    out = mnp.log(mnp.sum(mnp.exp(x - shift), axis=axis, keepdims=True)) + shift
    # MXNet's compensated sum turns inf + finite into NaN: a +inf anywhere gives +inf
    out = mnp.where(peak == np.inf, peak, out)
    return out if keepdims else mnp.squeeze(out, axis=axis)


def cumsum(x: Any, axis: int) -> Any:
    if not x.size:  # MXNet's kernel fails (asynchronously) on zero-size input
        return mnp.zeros(x.shape, dtype=x.dtype, ctx=x.ctx)
    return mnp.cumsum(x, axis=axis, dtype=x.dtype)


def take_along_axis(x: Any, indices: Any, axis: int) -> Any:
    # mnp.take_along_axis is missing in MXNet 1.9: a take from the flattened tensor,
    # with each row's offset added to its indices (out-of-range indices are clipped)
    if not indices.size:
        return mnp.zeros(indices.shape, dtype=x.dtype, ctx=x.ctx)
    xt, it = mnp.moveaxis(x, axis, -1), mnp.moveaxis(indices, axis, -1)
    n = xt.shape[-1]
    rows = int(np.prod(xt.shape[:-1]))
    offsets = mnp.arange(rows, dtype="int64", ctx=x.ctx).reshape(xt.shape[:-1] + (1,)) * n
    flat = mnp.take(xt.reshape(-1), it.astype("int64") + offsets)
    return mnp.moveaxis(flat, -1, axis)


def broadcast_to(x: Any, shape: tuple) -> Any:
    return mnp.broadcast_to(x, shape)


def _triangle(x: Any, k: int, lower: bool) -> Any:
    if not x.size:  # MXNet's where crashes the process on zero-size input
        return mnp.zeros(x.shape, dtype=x.dtype, ctx=x.ctx)
    rows, cols = x.shape[-2:]
    keep = np.tril(np.ones((rows, cols), bool), k) if lower else np.triu(np.ones((rows, cols),
                                                                                bool), k)
    zero = mnp.zeros((1,), dtype=x.dtype, ctx=x.ctx)
    return mnp.where(mnp.array(keep, ctx=x.ctx), x, zero)


def tril(x: Any, k: int) -> Any:
    return _triangle(x, k, True)


def triu(x: Any, k: int) -> Any:
    return _triangle(x, k, False)  # MXNet 1.9 has tril only


def einsum(subscripts: str, *operands: Any) -> Any:
    inputs, arrow, output = subscripts.replace(" ", "").partition("->")
    terms = inputs.split(",")
    if all(len(set(t.replace("...", ""))) == len(t.replace("...", "")) for t in terms):
        return mnp.einsum(subscripts, *operands)
    return _einsum_without_repeats(terms, output if arrow else None, list(operands))


def _einsum_without_repeats(terms: list, output: str | None, operands: list) -> Any:
    """MXNet 1.9's einsum backward leaves garbage in the gradient of an operand with a
    repeated label (``ii->i``): select that diagonal with a mask (NaN off it ignored, as
    torch), give each repeat a fresh label, and sum over it."""
    labels = "".join(terms).replace(".", "")
    if output is None:  # implicit mode: the labels seen once, sorted (NumPy's rule)
        output = ("..." if any("..." in t for t in terms) else "") + "".join(
            sorted(c for c in set(labels) if labels.count(c) == 1))
    fresh = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 if c not in labels)
    for n, (term, x) in enumerate(zip(terms, operands, strict=True)):
        head, dots, tail = term.partition("...")
        axes = list(range(len(head))) + list(range(x.ndim - len(tail), x.ndim))
        letters, first, keep = list(head + tail), {}, np.ones((1,) * x.ndim, bool)
        for position, (label, axis) in enumerate(zip(head + tail, axes, strict=True)):
            if label not in first:
                first[label] = axis
                continue
            eye = np.eye(x.shape[axis], dtype=bool)
            keep = keep & eye.reshape([x.shape[axis] if a in (first[label], axis) else 1
                                       for a in range(x.ndim)])
            letters[position] = next(fresh)
        if keep.size > 1:
            operands[n] = mnp.where(mnp.array(keep, ctx=x.ctx), x,
                                    mnp.zeros((1,), dtype=x.dtype, ctx=x.ctx))
            terms[n] = "".join(letters[:len(head)]) + dots + "".join(letters[len(head):])
    return mnp.einsum(",".join(terms) + "->" + output, *operands)


def pad(x: Any, pad_width: tuple, value: float) -> Any:
    if not x.size:
        shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pad_width, strict=True))
        return mnp.full(shape, value, dtype=x.dtype, ctx=x.ctx)
    out = mnp.pad(x, pad_width, mode="constant")
    if value == 0:
        return out
    # MXNet 1.9 ignores constant_values (it pads zeros): put the value in the border
    inside = np.pad(np.ones(x.shape, bool), pad_width)
    return mnp.where(mnp.array(inside, ctx=x.ctx), out,
                     mnp.full((1,), value, dtype=x.dtype, ctx=x.ctx))
