"""The backend-neutral ops (``polymod.ops``): elementwise, reductions, shapes, indexing."""

from __future__ import annotations

from typing import Any

import numpy as np

from .framework import tf

relu = tf.nn.relu
sigmoid = tf.math.sigmoid
tanh = tf.math.tanh
add = tf.math.add
subtract = tf.math.subtract
multiply = tf.math.multiply
divide = tf.math.divide
maximum = tf.math.maximum
minimum = tf.math.minimum
abs = tf.math.abs
exp = tf.math.exp
log = tf.math.log
sqrt = tf.math.sqrt
where = tf.where
zeros_like = tf.zeros_like
ones_like = tf.ones_like


def matmul(a: Any, b: Any) -> Any:
    if len(a.shape) >= 2 and len(b.shape) >= 2:
        return tf.linalg.matmul(a, b)
    # 1-D operands (a vector product), as NumPy, torch and MXNet take them
    return tf.convert_to_tensor(tf.experimental.numpy.matmul(a, b))


def gelu(x: Any) -> Any:
    return tf.nn.gelu(x, approximate=False)


def _nan_rows(x: Any, out: Any, axis: int) -> Any:
    # TensorFlow's softmax keeps a row's other entries when one is NaN; PyTorch and
    # NumPy make the whole row NaN: do the same.
    has_nan = tf.reduce_any(tf.math.is_nan(x), axis=axis, keepdims=True)
    return tf.where(has_nan, tf.constant(np.nan, x.dtype), out)


def softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(x, tf.nn.softmax(x, axis=axis), axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(x, tf.nn.log_softmax(x, axis=axis), axis)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return tf.reduce_sum(x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return tf.reduce_mean(x, axis=axis, keepdims=keepdims)


def _nan_aware(reduce: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # tf.reduce_max/min skip NaN; torch and NumPy return NaN: put it back.
    out = reduce(x, axis=axis, keepdims=keepdims)
    has_nan = tf.reduce_any(tf.math.is_nan(x), axis=axis, keepdims=keepdims)
    return tf.where(has_nan, tf.constant(np.nan, x.dtype), out)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _nan_aware(tf.reduce_max, x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _nan_aware(tf.reduce_min, x, axis, keepdims)


def reshape(x: Any, shape: tuple) -> Any:
    return tf.reshape(x, shape)


def permute_dims(x: Any, axes: Any = None) -> Any:
    return tf.transpose(x, axes)


def concat(xs: list, axis: int = 0) -> Any:
    return tf.concat(list(xs), axis=axis)


def stack(xs: list, axis: int = 0) -> Any:
    return tf.stack(list(xs), axis=axis)


def astype(x: Any, dtype: Any) -> Any:
    return tf.cast(x, np.dtype(dtype).name)


def flatten(x: Any, start_dim: int) -> Any:
    dims = tf.shape(x)
    return tf.reshape(x, tf.concat([dims[:start_dim], [tf.reduce_prod(dims[start_dim:])]], 0))


def take(x: Any, indices: Any, axis: int = 0) -> Any:
    return tf.gather(x, indices, axis=axis)


def embedding(indices: Any, weight: Any, padding_idx: Any = None) -> Any:
    out = tf.gather(weight, indices)
    if padding_idx is None:
        return out
    # PyTorch's padding_idx: that row gets no gradient
    pad = tf.expand_dims(tf.equal(indices, tf.cast(padding_idx, indices.dtype)), -1)
    return tf.where(pad, tf.stop_gradient(out), out)


def split(x: Any, sections: int, axis: int = 0) -> list:
    return tf.split(x, sections, axis=axis)


def masked_fill(x: Any, mask: Any, value: float) -> Any:
    return tf.where(mask, tf.constant(value, x.dtype), x)


def expand_dims(x: Any, axis: int) -> Any:
    return tf.expand_dims(x, axis)


def squeeze(x: Any, axis: int) -> Any:
    return tf.squeeze(x, axis)


stop_gradient = tf.stop_gradient
