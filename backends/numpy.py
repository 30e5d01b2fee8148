"""NumPy adapter: the forward-only reference backend (imports no framework)."""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import numpy as np

from polymod.errors import BackendTypeError

NAME = "numpy"
TENSOR_TYPES = (np.ndarray, np.generic)


def version() -> str:
    return np.__version__


# -- tensors -------------------------------------------------------------------------------
def from_numpy(array: np.ndarray, device: Any = None) -> np.ndarray:
    return array


def to_numpy(x: Any) -> np.ndarray:
    return np.array(x, copy=True)


def dtype_of(x: Any) -> np.dtype:
    return x.dtype


def shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def device_of(x: Any) -> None:
    return None


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    return array, array


def create_constant(array: np.ndarray, device: Any) -> np.ndarray:
    return array


def assign(target: np.ndarray, value: Any) -> None:
    """Writes ``value`` into ``target`` in place."""
    target[...] = value


def set_trainable(native: Any, flag: bool) -> None:
    pass


def is_trainable(native: Any, stored: bool) -> bool:
    return stored  # NumPy arrays carry no such flag


# -- autograd --------------------------------------------------------------------------------
def no_grad() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def value_and_grad(fn: Any, tensors: list) -> tuple:
    raise BackendTypeError(
        "The numpy backend is forward-only (the reference for comparisons); compute "
        "gradients on 'torch', 'keras' or 'gluon', e.g. net.to('torch').")


# -- ops ------------------------------------------------------------------------------------
def linear(x: Any, weight: Any, bias: Any) -> Any:
    if type(x) is not np.ndarray:  # NumPy would take a list; the frameworks do not
        raise TypeError(f"linear expects an array; received {type(x).__qualname__}")
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 = NaN, overflow = inf,
        out = x @ weight.T  # silently, as the frameworks do
        return out if bias is None else out + bias


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


def native_twin(module: Any) -> Any:
    raise BackendTypeError("The numpy backend has no native framework object; use "
                           "pm.native on a model bound to 'torch', 'keras' or 'gluon'.")


def export_weights(source: Any) -> Any:
    raise BackendTypeError("The numpy backend has no native models to import weights from.")


def cross_entropy(logits: Any, target: Any) -> Any:
    picked = np.take_along_axis(log_softmax(logits, -1), target.reshape(-1, 1), axis=-1)
    return -np.mean(picked, dtype=logits.dtype)


# -- sequences (embedding, attention, recurrent layers) ------------------------------------
def take(x: Any, indices: Any, axis: int = 0) -> Any:
    return np.take(x, indices, axis=axis)


def embedding(indices: Any, weight: Any, padding_idx: Any = None) -> Any:
    return weight[indices]  # forward only: padding_idx only matters for gradients


def split(x: Any, sections: int, axis: int = 0) -> list:
    size = x.shape[axis]
    if size % sections:
        raise ValueError(f"split: an axis of size {size} does not split into {sections} "
                         f"equal sections.")
    return np.split(x, sections, axis=axis)


def masked_fill(x: Any, mask: Any, value: float) -> Any:
    return np.where(mask, x.dtype.type(value), x)


def expand_dims(x: Any, axis: int) -> Any:
    return np.expand_dims(x, axis)


def squeeze(x: Any, axis: int) -> Any:
    return np.squeeze(x, axis)


def stop_gradient(x: Any) -> Any:
    return x


# -- layers: buffers, convolution, pooling, dropout, activations, losses --------------------
def create_buffer(array: np.ndarray, device: Any) -> np.ndarray:
    return array


def _windows(xp: Any, kernel: tuple, stride: tuple, dilation: tuple) -> Any:
    """(N, C, *out, *kernel) view of the padded input ``xp``, strided and dilated."""
    nd = len(kernel)
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    view = np.lib.stride_tricks.sliding_window_view(xp, extent, axis=tuple(range(2, 2 + nd)))
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) \
        + tuple(slice(None, None, d) for d in dilation)
    return view[index]


def conv(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple, dilation: tuple,
         groups: int) -> Any:
    """N-d convolution (NC*), weight (out, in/groups, *kernel); ``padding`` = (lo, hi) pairs."""
    nd = len(stride)
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0)) + tuple(padding))
    cols = _windows(xp, weight.shape[2:], stride, dilation)
    n, c = cols.shape[:2]
    out_sizes = cols.shape[2:2 + nd]
    cols = cols.reshape((n, groups, c // groups) + cols.shape[2:])
    w = np.asarray(weight, np.float64).reshape((groups, weight.shape[0] // groups)
                                               + weight.shape[1:])
    sp, ker = "hwd"[:nd], "ijk"[:nd]
    out = np.einsum(f"ngc{sp}{ker},goc{ker}->ngo{sp}", cols, w, optimize=True)
    out = out.reshape((n, weight.shape[0]) + out_sizes)
    if bias is not None:
        out = out + np.asarray(bias, np.float64).reshape((1, -1) + (1,) * nd)
    return out.astype(x.dtype, copy=False)


def max_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    pads = ((0, 0), (0, 0)) + tuple((p, p) for p in padding)
    xp = np.pad(x, pads, constant_values=-np.inf)
    return _windows(xp, kernel, stride, (1, 1)).max(axis=(-2, -1))


def avg_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    pads = ((0, 0), (0, 0)) + tuple((p, p) for p in padding)
    xp = np.pad(np.asarray(x, np.float64), pads)
    out = _windows(xp, kernel, stride, (1, 1)).mean(axis=(-2, -1))
    return out.astype(x.dtype, copy=False)


def dropout(x: Any, p: float) -> Any:
    from polymod.random import dropout_mask

    return x * dropout_mask(x.shape, p, x.dtype)


def silu(x: Any) -> Any:
    with np.errstate(invalid="ignore"):  # silu(-inf) = -inf * 0 = NaN, as in torch
        return x * sigmoid(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    return np.where(x < 0, x * x.dtype.type(negative_slope), x)


def bce_with_logits(x: Any, y: Any) -> Any:
    """Elementwise binary cross-entropy of logits ``x`` against targets ``y`` (stable form)."""
    return (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)


def cross_entropy_per_sample(logits: Any, target: Any) -> Any:
    picked = np.take_along_axis(log_softmax(logits, 1), np.expand_dims(target, 1), axis=1)
    return -np.squeeze(picked, 1)
