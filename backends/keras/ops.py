"""The backend-neutral ops (``polymod.ops``): elementwise, reductions, shapes, indexing."""

from __future__ import annotations

from typing import Any

import numpy as np

from .framework import tf
from .layout import where

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
zeros_like = tf.zeros_like
ones_like = tf.ones_like


def matmul(a: Any, b: Any) -> Any:
    if len(a.shape) >= 2 and len(b.shape) >= 2:
        return tf.linalg.matmul(a, b)
    # 1-D operands (a vector product), as NumPy, torch and MXNet take them
    return tf.convert_to_tensor(tf.experimental.numpy.matmul(a, b))


def gelu(x: Any) -> Any:
    return tf.nn.gelu(x, approximate=False)


def _nan_where(mask: Any, out: Any) -> Any:
    """``out`` with NaN where ``mask`` (broadcast) is True: PyTorch's NaN propagation
    put back where a TensorFlow kernel skips NaN."""
    return where(mask, tf.constant(np.nan, out.dtype), out)


def _nan_rows(out: Any, axis: int) -> Any:
    # TensorFlow's softmax keeps a row's other entries where it gives a NaN (a NaN input,
    # an infinite maximum, a row of -inf); PyTorch and NumPy make the whole row NaN.
    return _nan_where(tf.reduce_any(tf.math.is_nan(out), axis=axis, keepdims=True), out)


def softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(tf.nn.softmax(x, axis=axis), axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(tf.nn.log_softmax(x, axis=axis), axis)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return tf.reduce_sum(x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return tf.reduce_mean(x, axis=axis, keepdims=keepdims)


def _nan_aware(reduce: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # tf.reduce_max/min skip NaN; torch and NumPy return NaN: put it back.
    out = reduce(x, axis=axis, keepdims=keepdims)
    return _nan_where(tf.reduce_any(tf.math.is_nan(x), axis=axis, keepdims=keepdims), out)


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
    return where(mask, tf.constant(value, x.dtype), x)


def expand_dims(x: Any, axis: int) -> Any:
    return tf.expand_dims(x, axis)


def squeeze(x: Any, axis: int) -> Any:
    return tf.squeeze(x, axis)


stop_gradient = tf.stop_gradient


# -- math, reductions, indexing added for real models (pm.from_torch) ------------------------
erf = tf.math.erf
sin = tf.math.sin
cos = tf.math.cos
rsqrt = tf.math.rsqrt


def pow(a: Any, b: Any) -> Any:
    return a ** b  # the operator converts a Python number to the tensor's dtype


def clip(x: Any, min: Any, max: Any) -> Any:
    # NaN kept; the gradient is 1 where min <= x <= max (ties go to x, as torch.clamp)
    if min is not None and max is not None:
        return tf.clip_by_value(x, tf.cast(min, x.dtype), tf.cast(max, x.dtype))
    if min is not None:
        return tf.maximum(x, tf.cast(min, x.dtype))
    return tf.minimum(x, tf.cast(max, x.dtype))


def _count(x: Any, axis: Any) -> Any:
    """How many elements each reduction over ``axis`` sees (a tensor in traced graphs)."""
    axes = range(x.shape.rank) if axis is None else (
        (axis,) if isinstance(axis, int) else axis)
    sizes = [x.shape[a] for a in axes]
    if None not in sizes:
        return float(np.prod(sizes))
    return tf.cast(tf.reduce_prod(tf.gather(tf.shape(x), list(axes))), x.dtype)


def var(x: Any, axis: Any, keepdims: bool, correction: float) -> Any:
    out = tf.math.reduce_variance(x, axis=axis, keepdims=keepdims)
    if not correction:
        return out
    n = _count(x, axis)
    if isinstance(n, float) and n == correction:
        return out * np.inf  # 0 / 0: NaN, as torch
    return out * (n / (n - correction))


def _arg(fn: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    flat = axis is None
    data = tf.reshape(x, [-1]) if flat else x
    axis = 0 if flat else axis
    out = fn(data, axis=axis, output_type=tf.int64)
    if x.dtype.is_floating:  # TensorFlow skips NaN; NumPy and torch pick the first NaN
        nan = tf.math.is_nan(data)
        first_nan = tf.math.argmax(tf.cast(nan, tf.int8), axis=axis, output_type=tf.int64)
        out = tf.where(tf.reduce_any(nan, axis=axis), first_nan, out)
    if keepdims:
        out = tf.reshape(out, [1] * x.shape.rank) if flat else tf.expand_dims(out, axis)
    return out


def argmax(x: Any, axis: Any, keepdims: bool) -> Any:
    return _arg(tf.math.argmax, x, axis, keepdims)


def argmin(x: Any, axis: Any, keepdims: bool) -> Any:
    return _arg(tf.math.argmin, x, axis, keepdims)


def logsumexp(x: Any, axis: Any, keepdims: bool) -> Any:
    return tf.reduce_logsumexp(x, axis=axis, keepdims=keepdims)


def cumsum(x: Any, axis: int) -> Any:
    return tf.cumsum(x, axis=axis)


def take_along_axis(x: Any, indices: Any, axis: int) -> Any:
    return tf.convert_to_tensor(tf.experimental.numpy.take_along_axis(x, indices, axis))


broadcast_to = tf.broadcast_to


def _triangle(x: Any, keep: Any) -> Any:
    # a select with a constant mask: any dtype (tnp.tril refuses bool), NaN outside -> 0
    if None in x.shape[-2:]:  # unknown sizes in a traced graph
        rows, cols = tf.shape(x)[-2], tf.shape(x)[-1]
        mask = keep(tf.ones((rows, cols), tf.bool))
    else:
        mask = tf.constant(keep(np.ones(tuple(x.shape[-2:]), bool)))
    return tf.where(mask, x, tf.zeros_like(x))


def tril(x: Any, k: int) -> Any:
    return _triangle(x, lambda ones: tf.experimental.numpy.tril(ones, k)
                     if isinstance(ones, tf.Tensor) else np.tril(ones, k))


def triu(x: Any, k: int) -> Any:
    return _triangle(x, lambda ones: tf.experimental.numpy.triu(ones, k)
                     if isinstance(ones, tf.Tensor) else np.triu(ones, k))


def einsum(subscripts: str, *operands: Any) -> Any:
    return tf.einsum(subscripts, *operands)


def pad(x: Any, pad_width: tuple, value: float) -> Any:
    return tf.pad(x, pad_width, constant_values=tf.cast(value, x.dtype))
