"""The ops behind layers: linear, convolution, pooling, dropout, activations, losses."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .framework import is_traced, jax, jnp, lax
from .ops import check_range


def linear(x: Any, weight: Any, bias: Any) -> Any:
    if x.dtype != weight.dtype:  # dot_general would promote silently; the others refuse
        raise TypeError(f"linear: input of dtype {x.dtype}, weight of dtype {weight.dtype}")
    # one dot_general over x's last axis and weight's axis 1: no transposed copy of weight
    out = lax.dot_general(x, weight, (((x.ndim - 1,), (1,)), ((), ())))
    return out if bias is None else out + bias


def conv(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple, dilation: tuple,
         groups: int) -> Any:
    """N-d convolution (NC*), weight (out, in/groups, *kernel); ``padding`` = (lo, hi) pairs."""
    spatial = "HW"[:len(stride)] if len(stride) <= 2 else "DHW"
    out = lax.conv_general_dilated(
        x, weight, window_strides=stride, padding=[tuple(p) for p in padding],
        rhs_dilation=dilation, feature_group_count=groups,
        dimension_numbers=("NC" + spatial, "OI" + spatial, "NC" + spatial))
    if bias is None:
        return out
    return out + jnp.reshape(bias, (1, -1) + (1,) * len(stride))


def _window_pads(padding: tuple) -> list:
    return [(0, 0), (0, 0)] + [(p, p) for p in padding]


def max_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, *kernel), (1, 1, *stride),
                             _window_pads(padding))


def avg_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    total = lax.reduce_window(x, 0.0, lax.add, (1, 1, *kernel), (1, 1, *stride),
                              _window_pads(padding))
    return total / (kernel[0] * kernel[1])  # zero padding counted, as PyTorch's default


# The PRNG key of dropout while a model runs under jax.jit (see dropout_key).
_KEY: contextvars.ContextVar[list | None] = contextvars.ContextVar("polymod_jax_key",
                                                                  default=None)


@contextlib.contextmanager
def dropout_key(key: Any) -> Iterator[None]:
    """Dropout draws its masks from ``key`` inside the block (one ``fold_in`` per layer
    call, in call order), instead of from polymod's seeded NumPy generator."""
    token = _KEY.set(None if key is None else [key, 0])
    try:
        yield
    finally:
        _KEY.reset(token)


def dropout(x: Any, p: float) -> Any:
    state = _KEY.get()
    if state is not None:  # a key was given: JAX's RNG, traceable
        key = jax.random.fold_in(state[0], state[1])
        state[1] += 1
        keep = jax.random.bernoulli(key, 1.0 - p, x.shape)
        return x * (keep.astype(x.dtype) * (1.0 / (1.0 - p)))
    if is_traced(x):  # a NumPy mask would be frozen into the compiled function
        from polymod.errors import StateError

        raise StateError(
            "Dropout runs inside a JAX trace (jax.jit, vmap, scan) without a PRNG key: a mask "
            "from polymod's generator would be the same constant on every call. Pass a key: "
            "pm.native(net).apply(params, X, key=jax.random.key(step)), or call the model "
            "in eval mode.")
    from polymod.random import dropout_mask

    return x * jnp.asarray(dropout_mask(tuple(x.shape), p, np.dtype(x.dtype)))


silu = jax.nn.silu


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    return jnp.where(x >= 0, x, x * negative_slope)


def bce_with_logits(x: Any, y: Any) -> Any:
    """Elementwise binary cross-entropy of logits ``x`` against targets ``y`` (stable form)."""
    return jnp.maximum(x, 0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x)))


def cross_entropy(logits: Any, target: Any) -> Any:
    check_range(target, logits.shape[-1], "cross_entropy")
    picked = jnp.take_along_axis(jax.nn.log_softmax(logits, -1), target.reshape(-1, 1), axis=-1)
    return -jnp.mean(picked)


def cross_entropy_per_sample(logits: Any, target: Any) -> Any:
    check_range(target, logits.shape[1], "cross_entropy")
    picked = jnp.take_along_axis(jax.nn.log_softmax(logits, 1), jnp.expand_dims(target, 1),
                                 axis=1)
    return -jnp.squeeze(picked, 1)


def gelu_tanh(x: Any) -> Any:
    return jax.nn.gelu(x, approximate=True)


def relu6(x: Any) -> Any:
    # selects: NaN kept, gradient 1 only where 0 < x < 6 (as PyTorch's)
    return jnp.where(x <= 0, jnp.zeros_like(x), jnp.where(x >= 6, jnp.full_like(x, 6), x))


def softplus(x: Any, beta: float, threshold: float) -> Any:
    linear = x * beta > threshold
    # the unused branch sees 0, so its overflow cannot turn the gradient NaN
    safe = jnp.where(linear, jnp.zeros_like(x), x)
    return jnp.where(linear, x, jnp.log1p(jnp.exp(safe * beta)) / beta)


def elu(x: Any, alpha: float) -> Any:
    # exp of the unused branch capped at 0; the gradient at 0 is alpha, as PyTorch's
    negative = jnp.where(x > 0, jnp.zeros_like(x), x)
    return jnp.where(x > 0, x, alpha * jnp.expm1(negative))


def conv_transpose(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple,
                   output_padding: tuple, dilation: tuple, groups: int) -> Any:
    """Transposed N-d convolution (NC*), weight (in, out/groups, *kernel): a convolution of
    the input dilated by ``stride`` with the flipped kernel, (out, in/groups) per group."""
    nd = len(stride)
    c_in, per_group, kernel = weight.shape[0], weight.shape[1], weight.shape[2:]
    w = jnp.reshape(weight, (groups, c_in // groups, per_group, *kernel))
    w = jnp.swapaxes(w, 1, 2).reshape((groups * per_group, c_in // groups, *kernel))
    w = jnp.flip(w, axis=tuple(range(2, 2 + nd)))
    pads = [(d * (k - 1) - p, d * (k - 1) - p + e) for k, d, p, e in
            zip(kernel, dilation, padding, output_padding, strict=True)]
    spatial = "HW"[:nd] if nd <= 2 else "DHW"
    out = lax.conv_general_dilated(
        x, w, window_strides=(1,) * nd, padding=pads, lhs_dilation=stride,
        rhs_dilation=dilation, feature_group_count=groups,
        dimension_numbers=("NC" + spatial, "OI" + spatial, "NC" + spatial))
    return out if bias is None else out + jnp.reshape(bias, (1, -1) + (1,) * nd)


@functools.partial(jax.jit, static_argnums=(5, 6, 7))
def _batch_norm(x: Any, running_mean: Any, running_var: Any, weight: Any, bias: Any,
                use_batch_stats: bool, factor: float, eps: float) -> tuple:
    """``nn.BatchNorm``'s composed form (the same ops, the same numbers) as one jitted
    function: eagerly, JAX compiles every op for every new shape, so one compile per
    shape instead of about ten (BatchNorm's share of a MobileNetV2's first training-mode
    forward went from 11.5 s to 4.7 s); under an outer ``jax.jit`` it is inlined. Returns ``(out, stats)``,
    ``stats`` the new running statistics (PyTorch's update, unbiased variance) or None."""
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    stats = None
    if use_batch_stats:
        mean = jnp.mean(x, axis=axes, keepdims=True)
        centred = x - mean
        var = jnp.mean(centred * centred, axis=axes, keepdims=True)
        out = centred / jnp.sqrt(var + eps)
        if running_mean is not None:
            n = math.prod(x.shape[a] for a in axes)
            channels = (x.shape[1],)
            unbiased = var * (n / (n - 1))
            stats = lax.stop_gradient(
                ((1.0 - factor) * running_mean + factor * jnp.reshape(mean, channels),
                 (1.0 - factor) * running_var + factor * jnp.reshape(unbiased, channels)))
    else:
        out = (x - jnp.reshape(running_mean, shape)) / jnp.sqrt(
            jnp.reshape(running_var, shape) + eps)
    if weight is not None:
        out = out * jnp.reshape(weight, shape)
    if bias is not None:
        out = out + jnp.reshape(bias, shape)
    return out, stats


#: polymod.ops name -> one jitted function (composed from the same ops: the same numbers)
FUSED: dict = {
    "batch_norm": _batch_norm,  # nn.BatchNorm1d/2d's, not an op
}
