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
        if out.dtype != x.dtype:  # ml_dtypes' bfloat16 @ bfloat16 gives float32
            out = out.astype(x.dtype)
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


def gelu_tanh(x: Any) -> Any:
    wide = np.asarray(x, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # x**3 overflows to inf, as in torch
        inner = np.sqrt(2.0 / np.pi) * (wide + 0.044715 * wide ** 3)
        return (0.5 * wide * (1.0 + np.tanh(inner))).astype(x.dtype, copy=False)


def relu6(x: Any) -> Any:
    return np.clip(x, x.dtype.type(0), x.dtype.type(6))  # clip keeps NaN


def softplus(x: Any, beta: float, threshold: float) -> Any:
    wide = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):
        soft = np.log1p(np.exp(wide * beta)) / beta
    return np.where(wide * beta > threshold, wide, soft).astype(x.dtype, copy=False)


def elu(x: Any, alpha: float) -> Any:
    wide = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):
        out = np.where(wide > 0, wide, alpha * np.expm1(np.minimum(wide, 0.0)))
    return out.astype(x.dtype, copy=False)


def conv_transpose(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple,
                   output_padding: tuple, dilation: tuple, groups: int) -> Any:
    """Transposed N-d convolution (NC*), weight (in, out/groups, *kernel), in float64:
    each input element scatters ``x * w`` to ``i * stride + k * dilation - padding``."""
    import itertools

    nd = len(stride)
    n, c_in = x.shape[:2]
    sizes, kernel = x.shape[2:], weight.shape[2:]
    c_out = weight.shape[1] * groups
    xg = np.asarray(x, np.float64).reshape((n, groups, c_in // groups) + sizes)
    wg = np.asarray(weight, np.float64).reshape((groups, c_in // groups) + weight.shape[1:])
    sp, ker = "hw"[:nd], "ij"[:nd]
    with np.errstate(invalid="ignore", over="ignore"):
        parts = np.einsum(f"ngc{sp},gco{ker}->ngo{sp}{ker}", xg, wg, optimize=True)
        full = [(s - 1) * st + d * (k - 1) + 1 + e for s, st, d, k, e in
                zip(sizes, stride, dilation, kernel, output_padding, strict=True)]
        out = np.zeros((n, groups, c_out // groups, *full))
        for taps in itertools.product(*(range(k) for k in kernel)):
            where = tuple(slice(t * d, t * d + (s - 1) * st + 1, st) for t, d, s, st in
                          zip(taps, dilation, sizes, stride, strict=True))
            out[(Ellipsis, *where)] += parts[(Ellipsis, *taps)]
    crop = tuple(slice(p, f - p) for p, f in zip(padding, full, strict=True))
    out = out[(Ellipsis, *crop)].reshape((n, c_out) + tuple(f - 2 * p for f, p in
                                                            zip(full, padding, strict=True)))
    if bias is not None:
        out = out + np.asarray(bias, np.float64).reshape((1, -1) + (1,) * nd)
    return out.astype(x.dtype, copy=False)


#: no fused kernels: polymod.ops composes those ops from the others
FUSED: dict = {}
