"""NumPy adapter: the forward-only reference backend (imports no framework)."""

from __future__ import annotations

import contextlib
import math
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
    value = np.array(array, copy=True)
    return value, value


def create_constant(array: np.ndarray, device: Any) -> np.ndarray:
    return np.array(array, copy=True)


def assign(target: np.ndarray, value: Any) -> None:
    """Writes ``value`` into ``target`` in place."""
    target[...] = value


def set_trainable(native: Any, flag: bool) -> None:
    pass


# -- autograd --------------------------------------------------------------------------------
def no_grad() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def value_and_grad(fn: Any, tensors: list) -> tuple:
    raise BackendTypeError(
        "The numpy backend is forward-only (the reference for comparisons); compute "
        "gradients on 'torch', 'keras' or 'gluon', e.g. net.to('torch').")


# -- ops ------------------------------------------------------------------------------------
def linear(x: Any, weight: Any, bias: Any) -> Any:
    out = x @ weight.T
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
