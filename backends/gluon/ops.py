"""The backend-neutral ops (``polymod.ops``): elementwise, reductions, shapes, indexing."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .framework import mnp, mx, npx

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


def _nan_rows(x: Any, out: Any, axis: int) -> Any:
    # MXNet's softmax keeps a row's other entries when one is NaN; PyTorch and NumPy
    # make the whole row NaN: do the same.
    has_nan = mnp.max(mnp.isnan(x).astype(x.dtype), axis=axis, keepdims=True) > 0
    return mnp.where(has_nan, mnp.full(has_nan.shape, np.nan, dtype=x.dtype, ctx=x.ctx), out)


def softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(x, npx.softmax(x, axis=axis), axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(x, npx.log_softmax(x, axis=axis), axis)


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
