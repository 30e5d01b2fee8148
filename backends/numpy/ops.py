"""The backend-neutral ops (``polymod.ops``): elementwise, reductions, shapes, indexing."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np


def relu(x: Any) -> Any:
    return np.maximum(x, x.dtype.type(0))  # maximum propagates NaN, like the frameworks


def sigmoid(x: Any) -> Any:
    with np.errstate(over="ignore"):
        return (1 / (1 + np.exp(-x))).astype(x.dtype, copy=False)


def tanh(x: Any) -> Any:
    return np.tanh(x)


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x: Any) -> Any:
    erf = _erf(np.asarray(x, np.float64) / math.sqrt(2.0)).astype(np.float64)
    with np.errstate(invalid="ignore"):  # -inf * 0 = NaN, as in torch
        return (0.5 * x * (1.0 + erf)).astype(x.dtype, copy=False)


# inf - inf = NaN: a row with an infinite maximum (or all -inf) is a NaN row, as in torch
@np.errstate(invalid="ignore")
def softmax(x: Any, axis: int = -1) -> Any:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


@np.errstate(invalid="ignore")
def log_softmax(x: Any, axis: int = -1) -> Any:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))




def matmul(a: Any, b: Any) -> Any:
    out = np.matmul(a, b)
    # ml_dtypes' bfloat16 @ bfloat16 gives float32
    return out if out.dtype == a.dtype or a.dtype.name != "bfloat16" else out.astype(a.dtype)
add = np.add
subtract = np.subtract


def multiply(a: Any, b: Any) -> Any:
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 = NaN quietly, as torch
        return np.multiply(a, b)


divide = np.divide
maximum = np.maximum
minimum = np.minimum
abs = np.abs
exp = np.exp
log = np.log
sqrt = np.sqrt
where = np.where
zeros_like = np.zeros_like
ones_like = np.ones_like


def _reduce(fn: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    if not x.size and fn is np.mean:  # NaN, as torch and TF give, without NumPy's warning
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = fn(x, axis=axis, keepdims=keepdims)
        return np.asarray(out, dtype=x.dtype)
    out = fn(x, axis=axis, keepdims=keepdims)
    return np.asarray(out, dtype=x.dtype) if np.isscalar(out) or out.ndim == 0 else out


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _reduce(np.sum, x, axis, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _reduce(np.mean, x, axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _reduce(np.max, x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _reduce(np.min, x, axis, keepdims)


def reshape(x: Any, shape: tuple) -> Any:
    return np.reshape(x, shape)


def permute_dims(x: Any, axes: Any = None) -> Any:
    return np.transpose(x, axes)


def concat(xs: list, axis: int = 0) -> Any:
    return np.concatenate(xs, axis=axis)


def stack(xs: list, axis: int = 0) -> Any:
    return np.stack(xs, axis=axis)


def astype(x: Any, dtype: Any) -> Any:
    return x.astype(dtype)


def flatten(x: Any, start_dim: int) -> Any:
    return x.reshape(x.shape[:start_dim] + (int(np.prod(x.shape[start_dim:])),))


def take(x: Any, indices: Any, axis: int = 0) -> Any:
    return np.take(x, indices, axis=axis)


def embedding(indices: Any, weight: Any, padding_idx: Any = None) -> Any:
    return weight[indices]  # forward only: padding_idx only matters for gradients


def split(x: Any, sections: int, axis: int = 0) -> list:
    return np.split(x, sections, axis=axis)


def masked_fill(x: Any, mask: Any, value: float) -> Any:
    return np.where(mask, x.dtype.type(value), x)


def expand_dims(x: Any, axis: int) -> Any:
    return np.expand_dims(x, axis)


def squeeze(x: Any, axis: int) -> Any:
    return np.squeeze(x, axis)


def stop_gradient(x: Any) -> Any:
    return x


# -- math, reductions, indexing added for real models (pm.from_torch) ------------------------
def erf(x: Any) -> Any:
    return _erf(np.asarray(x, np.float64)).astype(x.dtype)


def sin(x: Any) -> Any:
    with np.errstate(invalid="ignore"):  # sin(inf) = NaN, quietly, as the frameworks
        return np.sin(x)


def cos(x: Any) -> Any:
    with np.errstate(invalid="ignore"):
        return np.cos(x)


def rsqrt(x: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):  # 1/0 = inf, sqrt(-1) = NaN, quietly
        return (1.0 / np.sqrt(np.asarray(x, np.float64))).astype(x.dtype, copy=False)


def pow(a: Any, b: Any) -> Any:
    with np.errstate(all="ignore"):  # overflow to inf, 0 ** -1 = inf: quietly, as torch
        return np.power(a, b)


def clip(x: Any, min: Any, max: Any) -> Any:
    return np.clip(x, min, max)


def var(x: Any, axis: Any, keepdims: bool, correction: float) -> Any:
    data = np.asarray(x, np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():  # n <= correction: inf/NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.mean(data, axis=axis, keepdims=True)
        squares = np.sum((data - mean) ** 2, axis=axis, keepdims=keepdims)
        n = data.size // np.asarray(mean).size if data.size else 0
        out = squares / np.float64(n - correction) if n else squares * np.nan  # torch: NaN
    return np.asarray(out, x.dtype)


def _arg(fn: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    return np.asarray(fn(x, axis=axis, keepdims=keepdims), np.int64)


def argmax(x: Any, axis: Any, keepdims: bool) -> Any:
    return _arg(np.argmax, x, axis, keepdims)  # NumPy: the first NaN, else the first max


def argmin(x: Any, axis: Any, keepdims: bool) -> Any:
    return _arg(np.argmin, x, axis, keepdims)


def logsumexp(x: Any, axis: Any, keepdims: bool) -> Any:
    data = np.asarray(x, np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if not data.size:  # the sum of nothing: log(0)
            return np.asarray(np.log(np.sum(data, axis=axis, keepdims=keepdims)), x.dtype)
        peak = np.max(data, axis=axis, keepdims=True)
        peak = np.where(np.isinf(peak), 0.0, peak)  # -inf rows stay -inf, +inf stays +inf
        out = np.log(np.sum(np.exp(data - peak), axis=axis, keepdims=True)) + peak
    return np.asarray(out if keepdims else np.squeeze(out, axis=axis), x.dtype)


def cumsum(x: Any, axis: int) -> Any:
    return np.cumsum(x, axis=axis, dtype=x.dtype)


def take_along_axis(x: Any, indices: Any, axis: int) -> Any:
    return np.take_along_axis(x, indices, axis)


def broadcast_to(x: Any, shape: tuple) -> Any:
    return np.broadcast_to(x, shape)


def tril(x: Any, k: int) -> Any:
    return np.tril(x, k)


def triu(x: Any, k: int) -> Any:
    return np.triu(x, k)


def einsum(subscripts: str, *operands: Any) -> Any:
    dtype = np.result_type(*operands)
    if dtype.kind != "f":
        return np.einsum(subscripts, *operands)
    wide = [np.asarray(a, np.float64) for a in operands]
    with np.errstate(invalid="ignore", over="ignore"):
        return np.einsum(subscripts, *wide, optimize=True).astype(dtype, copy=False)


def pad(x: Any, pad_width: tuple, value: float) -> Any:
    return np.pad(x, pad_width, constant_values=value)
