"""The ops behind layers: linear, convolution, pooling, dropout, activations, losses."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from polymod.adapter import empty_batch_safe as _empty_batch_guard

from .framework import autograd, mnp, npx
from .ops import log_softmax
from .tensors import dtype_of

_out_features: dict[int, int] = {}  # id(weight) -> rows, dropped when the weight dies


def _rows(weight: Any) -> int:
    # Each .shape is a call into MXNet (~0.8 us, a tenth of a small layer's overhead):
    # a weight's shape never changes, so read it once.
    rows = _out_features.get(id(weight))
    if rows is None:
        rows = _out_features[id(weight)] = weight.shape[0]
        weakref.finalize(weight, _out_features.pop, id(weight), None)
    return rows


def linear(x: Any, weight: Any, bias: Any) -> Any:
    # Hot path: each keyword is one more string MXNet parses per call, so pass no_bias
    # only when it is True.
    out_features = _rows(weight)
    if not out_features or 0 in x.shape:  # MXNet fails (asynchronously for an empty
        # batch) on zero-size operands; torch and TF give zeros (plus the bias)
        out = mnp.zeros(x.shape[:-1] + (out_features,), dtype=x.dtype, ctx=x.ctx)
        return out if bias is None else out + bias
    if bias is None:
        return npx.fully_connected(x, weight, None, no_bias=True, num_hidden=out_features,
                                   flatten=False)
    return npx.fully_connected(x, weight, bias, num_hidden=out_features, flatten=False)


def _check_classes(target: Any, classes: int) -> None:
    # npx.pick clips a class index out of range: a silently wrong loss where torch, TF
    # and NumPy raise. Checking costs one sync per loss; a wrong number costs more.
    if target.size and (float(target.min()) < 0 or float(target.max()) >= classes):
        raise IndexError(f"Target class index out of bounds: expected 0 <= target < "
                         f"{classes}; received values in [{int(target.min())}, "
                         f"{int(target.max())}].")


def cross_entropy(logits: Any, target: Any) -> Any:
    _check_classes(target, logits.shape[-1])
    return -mnp.mean(npx.pick(log_softmax(logits, -1), target, axis=-1))


_empty_batch_safe = _empty_batch_guard(  # a [:0] slice would still trip MXNet: fresh arrays
    lambda x: mnp.zeros((1,) + tuple(x.shape[1:]), dtype=x.dtype, ctx=x.ctx),
    lambda out: mnp.zeros((0,) + tuple(out.shape[1:]), dtype=out.dtype, ctx=out.ctx))


@_empty_batch_safe
def conv(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple, dilation: tuple,
         groups: int) -> Any:
    """N-d convolution (NC*), weight (out, in/groups, *kernel); ``padding`` = (lo, hi) pairs."""
    if all(lo == hi for lo, hi in padding):
        pad = tuple(lo for lo, _ in padding)
    else:  # asymmetric ('same' with an even kernel): pad first
        x = mnp.pad(x, ((0, 0), (0, 0)) + tuple(tuple(p) for p in padding))
        pad = (0,) * len(padding)
    return npx.convolution(x, weight, bias, kernel=tuple(weight.shape[2:]), stride=stride,
                           dilate=dilation, pad=pad, num_filter=weight.shape[0],
                           num_group=groups, no_bias=bias is None,
                           layout="NCW" if len(stride) == 1 else "NCHW")


@_empty_batch_safe
def max_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    y = npx.pooling(x, kernel=kernel, stride=stride, pad=padding, pool_type="max")
    # MXNet's max pool skips NaN; PyTorch's keeps it: put it back
    nan = npx.pooling(mnp.isnan(x).astype(x.dtype), kernel=kernel, stride=stride, pad=padding,
                      pool_type="max")
    return mnp.where(nan > 0, mnp.full(y.shape, np.nan, dtype=y.dtype, ctx=y.ctx), y)


@_empty_batch_safe
def avg_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    return npx.pooling(x, kernel=kernel, stride=stride, pad=padding, pool_type="avg",
                       count_include_pad=True)


def dropout(x: Any, p: float) -> Any:
    from polymod.random import dropout_mask

    return x * mnp.array(dropout_mask(tuple(x.shape), p, dtype_of(x)), ctx=x.ctx)


def silu(x: Any) -> Any:
    return x * npx.sigmoid(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    return npx.leaky_relu(x, act_type="leaky", slope=negative_slope)


def bce_with_logits(x: Any, y: Any) -> Any:
    return mnp.maximum(x, 0) - x * y + mnp.log1p(mnp.exp(-mnp.abs(x)))


def cross_entropy_per_sample(logits: Any, target: Any) -> Any:
    _check_classes(target, logits.shape[1])
    return -npx.pick(log_softmax(logits, 1), target, axis=1)


def _scalar(value: float, like: Any) -> Any:
    # a 1-element array, not a Python number: MXNet 1.9's where() with a scalar branch
    # gets the gradient wrong
    return mnp.full((1,), value, dtype=like.dtype, ctx=like.ctx)


def gelu_tanh(x: Any) -> Any:
    inner = 0.7978845608028654 * (x + 0.044715 * (x * x * x))
    return 0.5 * x * (1.0 + mnp.tanh(inner))


def relu6(x: Any) -> Any:
    # selects rather than clips: gradient 1 only for 0 < x < 6 (PyTorch's), NaN kept
    if not x.size:  # MXNet's where crashes the process on zero-size input
        return mnp.zeros(x.shape, dtype=x.dtype, ctx=x.ctx)
    return mnp.where(x >= 6, _scalar(6.0, x), mnp.where(x <= 0, _scalar(0.0, x), x))


def softplus(x: Any, beta: float, threshold: float) -> Any:
    scaled = x * beta if beta != 1.0 else x
    # the exp of the unused branch is capped, so that its inf cannot turn the gradient NaN
    soft = mnp.log1p(mnp.exp(mnp.minimum(scaled, threshold)))
    return mnp.where(scaled > threshold, x, soft / beta if beta != 1.0 else soft)


def elu(x: Any, alpha: float) -> Any:
    return npx.leaky_relu(x, act_type="elu", slope=alpha)


def _spread(x: Any, axis: int, step: int) -> Any:
    """``x`` with ``step - 1`` zeros between neighbours along ``axis``."""
    spaced = mnp.stack([x] + [mnp.zeros_like(x)] * (step - 1), axis=axis + 1)
    shape = x.shape[:axis] + (x.shape[axis] * step,) + x.shape[axis + 1:]
    index = (slice(None),) * axis + (slice(0, shape[axis] - step + 1),)
    return spaced.reshape(shape)[index]


@_empty_batch_safe
def conv_transpose(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple,
                   output_padding: tuple, dilation: tuple, groups: int) -> Any:
    # Not npx.deconvolution: with MKLDNN its backward fails ("could not execute a
    # primitive") when gradients go to fresh arrays, as value_and_grad asks. A transposed
    # conv is a conv of the zero-spread input with the flipped, in/out-swapped kernel.
    nd = len(stride)
    kernel = weight.shape[2:]
    for axis, step in enumerate(stride, 2):
        if step > 1:
            x = _spread(x, axis, step)
    pads = [(d * (k - 1) - p, d * (k - 1) - p + e) for k, d, p, e in
            zip(kernel, dilation, padding, output_padding, strict=True)]
    crop = (slice(None),) * 2 + tuple(slice(max(-lo, 0), x.shape[2 + i] - max(-hi, 0))
                                      for i, (lo, hi) in enumerate(pads))
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        x = x[crop]
    pads = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    c_in, per_group = weight.shape[0], weight.shape[1]
    w = weight.reshape((groups, c_in // groups, per_group) + kernel)
    w = mnp.swapaxes(w, 1, 2).reshape((per_group * groups, c_in // groups) + kernel)
    w = mnp.flip(w, axis=tuple(range(2, 2 + nd)))
    return conv(x, w, bias, (1,) * nd, tuple(pads), dilation, groups)


def _batch_norm(x: Any, running_mean: Any, running_var: Any, weight: Any, bias: Any,
                use_batch_stats: bool, factor: float, eps: float) -> tuple | None:
    """``nn.BatchNorm``'s kernel: MXNet's fused batch norm, with PyTorch's running update.

    MXNet's own update weights the *old* value by ``momentum`` and uses the biased
    variance, so it is left out (``momentum=1``: the statistics stay as they are) and the
    new ones are returned: the batch variance from the inverse standard deviation the
    op gives out (``1 / invstd**2 - eps``), made unbiased. None for what it does not
    take: other dtypes than float32, an empty batch.
    """
    shape = x.shape
    if x.dtype != np.float32 or shape[0] == 0:
        return None
    c = shape[1]
    weight = mnp.ones((c,), dtype=x.dtype) if weight is None else weight
    bias = mnp.zeros((c,), dtype=x.dtype) if bias is None else bias
    if not use_batch_stats:
        return npx.batch_norm(x, weight, bias, running_mean, running_var, eps=eps,
                              momentum=1.0, fix_gamma=False, use_global_stats=True,
                              axis=1), None
    if running_mean is None:
        running_mean, running_var = mnp.zeros((c,), dtype=x.dtype), mnp.ones((c,), x.dtype)
    if autograd.is_training():
        y, mean, invstd = npx.batch_norm(x, weight, bias, running_mean, running_var, eps=eps,
                                         momentum=1.0, fix_gamma=False, axis=1,
                                         output_mean_var=True)
    else:
        with autograd.train_mode():  # batch statistics: MXNet reads the mode, not a flag
            y, mean, invstd = npx.batch_norm(x, weight, bias, running_mean, running_var,
                                             eps=eps, momentum=1.0, fix_gamma=False, axis=1,
                                             output_mean_var=True)
    if factor == 0.0:
        return y, None
    n = x.size // c
    with autograd.pause():
        unbiased = (1.0 / (invstd * invstd) - eps) * (n / (n - 1))
        return y, ((1.0 - factor) * running_mean + factor * mean,
                   (1.0 - factor) * running_var + factor * unbiased)


def _layer_norm(x: Any, shape: tuple, weight: Any, bias: Any, eps: float) -> Any | None:
    """MXNet's layer norm over the last axis (several normalised axes as one); None for an
    empty input, which its kernel does not take."""
    if not x.size:
        return None
    features = int(np.prod(shape))
    flat = x if len(shape) == 1 else x.reshape(x.shape[:-len(shape)] + (features,))
    gamma = mnp.ones((features,), dtype=x.dtype, ctx=x.ctx) if weight is None \
        else weight.reshape(-1)
    beta = mnp.zeros((features,), dtype=x.dtype, ctx=x.ctx) if bias is None \
        else bias.reshape(-1)
    out = npx.layer_norm(flat, gamma, beta, axis=-1, eps=eps)
    return out if len(shape) == 1 else out.reshape(x.shape)


#: polymod.ops name -> MXNet's fused kernel (the composed forms' numbers, one kernel)
FUSED: dict = {
    "batch_norm": _batch_norm,  # nn.BatchNorm1d/2d's, not an op
    "layer_norm": _layer_norm,
}
