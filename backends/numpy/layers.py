"""The ops behind layers: linear, convolution, pooling, dropout, activations, losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from .ops import log_softmax, sigmoid


def linear(x: Any, weight: Any, bias: Any) -> Any:
    if type(x) is not np.ndarray:  # NumPy would take a list; the frameworks do not
        raise TypeError(f"linear expects an array; received {type(x).__qualname__}")
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 = NaN, overflow = inf,
        out = x @ weight.T  # silently, as the frameworks do
        return out if bias is None else out + bias


def cross_entropy(logits: Any, target: Any) -> Any:
    picked = np.take_along_axis(log_softmax(logits, -1), target.reshape(-1, 1), axis=-1)
    return -np.mean(picked, dtype=logits.dtype)


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
