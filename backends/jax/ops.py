"""The backend-neutral ops (``polymod.ops``): elementwise, reductions, shapes, indexing.

``jax.numpy`` already follows NumPy: NaN propagates through ``maximum``, ``max`` and
softmax, and an empty mean is NaN, so most ops are JAX's own functions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .framework import jax, jnp, lax, narrowed

relu = jax.nn.relu
sigmoid = jax.nn.sigmoid
tanh = jnp.tanh
matmul = jnp.matmul
add = jnp.add
subtract = jnp.subtract
multiply = jnp.multiply
divide = jnp.divide
maximum = jnp.maximum
minimum = jnp.minimum
abs = jnp.abs
exp = jnp.exp
log = jnp.log
sqrt = jnp.sqrt
where = jnp.where
zeros_like = jnp.zeros_like
ones_like = jnp.ones_like
stop_gradient = lax.stop_gradient


def gelu(x: Any) -> Any:
    return jax.nn.gelu(x, approximate=False)


def softmax(x: Any, axis: int = -1) -> Any:
    return jax.nn.softmax(x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return jax.nn.log_softmax(x, axis=axis)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return jnp.sum(x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return jnp.mean(x, axis=axis, keepdims=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return jnp.max(x, axis=axis, keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return jnp.min(x, axis=axis, keepdims=keepdims)


def reshape(x: Any, shape: tuple) -> Any:
    return jnp.reshape(x, shape)


def permute_dims(x: Any, axes: Any = None) -> Any:
    return jnp.transpose(x, axes)


def concat(xs: list, axis: int = 0) -> Any:
    return jnp.concatenate(xs, axis=axis)


def stack(xs: list, axis: int = 0) -> Any:
    return jnp.stack(xs, axis=axis)


def astype(x: Any, dtype: Any) -> Any:
    return x.astype(narrowed(np.dtype(dtype)))  # int64 is int32 while x64 is off


def flatten(x: Any, start_dim: int) -> Any:
    # shapes are static in JAX; -1 would be ambiguous for an empty batch
    return jnp.reshape(x, x.shape[:start_dim] + (math.prod(x.shape[start_dim:]),))


def check_range(indices: Any, size: int, op: str) -> None:
    # JAX fills or clips out-of-range indices silently, where NumPy, torch and TF raise.
    # Eager indices are checked; traced ones cannot be (they give the fill value).
    if isinstance(indices, jax.core.Tracer):
        return
    values = np.asarray(indices)
    if values.size and (values.max() >= size or values.min() < -size):
        worst = int(values.max() if values.max() >= size else values.min())
        raise IndexError(f"{op}: index {worst} is out of range for an axis of size {size}.")


def take(x: Any, indices: Any, axis: int = 0) -> Any:
    check_range(indices, x.shape[axis], "take")
    return jnp.take(x, indices, axis=axis)


def embedding(indices: Any, weight: Any, padding_idx: Any = None) -> Any:
    check_range(indices, weight.shape[0], "embedding")
    out = jnp.take(weight, indices, axis=0)
    if padding_idx is None:
        return out
    # PyTorch's padding_idx: that row gets no gradient
    pad = jnp.expand_dims(indices == padding_idx, -1)
    return jnp.where(pad, lax.stop_gradient(out), out)


def split(x: Any, sections: int, axis: int = 0) -> list:
    size = x.shape[axis]
    if size % sections:
        raise ValueError(f"split: an axis of size {size} does not split into {sections} "
                         f"equal sections.")
    return jnp.split(x, sections, axis=axis)


def masked_fill(x: Any, mask: Any, value: float) -> Any:
    return jnp.where(mask, jnp.asarray(value, x.dtype), x)


def expand_dims(x: Any, axis: int) -> Any:
    return jnp.expand_dims(x, axis)


def squeeze(x: Any, axis: int) -> Any:
    return jnp.squeeze(x, axis)


# -- math, reductions, indexing added for real models (pm.from_torch) ------------------------
erf = lax.erf
sin = jnp.sin
cos = jnp.cos
rsqrt = lax.rsqrt
pow = jnp.power


def clip(x: Any, min: Any, max: Any) -> Any:
    # selects, not jnp.clip: NaN kept, and the gradient is 1 on the bounds too (torch.clamp;
    # jnp.maximum would give 0.5 at a tie)
    if min is not None:
        x = jnp.where(x < min, jnp.asarray(min, x.dtype), x)
    if max is not None:
        x = jnp.where(x > max, jnp.asarray(max, x.dtype), x)
    return x


def var(x: Any, axis: Any, keepdims: bool, correction: float) -> Any:
    mean = jnp.mean(x, axis=axis, keepdims=True)
    squares = jnp.sum((x - mean) ** 2, axis=axis, keepdims=keepdims)
    n = x.size // mean.size if x.size else 0
    return squares / (n - correction) if n else squares * jnp.nan  # n <= correction: inf/NaN


def _arg(fn: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    out = fn(x, axis=axis, keepdims=keepdims)  # NaN counts as the extreme, as NumPy
    return out.astype(narrowed(np.dtype(np.int64)))  # int64 where x64 is on


def argmax(x: Any, axis: Any, keepdims: bool) -> Any:
    return _arg(jnp.argmax, x, axis, keepdims)


def argmin(x: Any, axis: Any, keepdims: bool) -> Any:
    return _arg(jnp.argmin, x, axis, keepdims)


def logsumexp(x: Any, axis: Any, keepdims: bool) -> Any:
    return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)


def cumsum(x: Any, axis: int) -> Any:
    return jnp.cumsum(x, axis=axis, dtype=x.dtype)


def take_along_axis(x: Any, indices: Any, axis: int) -> Any:
    return jnp.take_along_axis(x, indices, axis=axis)


def broadcast_to(x: Any, shape: tuple) -> Any:
    return jnp.broadcast_to(x, shape)


def tril(x: Any, k: int) -> Any:
    return jnp.tril(x, k)


def triu(x: Any, k: int) -> Any:
    return jnp.triu(x, k)


def einsum(subscripts: str, *operands: Any) -> Any:
    return jnp.einsum(subscripts, *operands)


def pad(x: Any, pad_width: tuple, value: float) -> Any:
    return jnp.pad(x, pad_width, constant_values=value)
