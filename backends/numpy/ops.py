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


def softmax(x: Any, axis: int = -1) -> Any:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Any:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


matmul = np.matmul
add = np.add
subtract = np.subtract
multiply = np.multiply
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
