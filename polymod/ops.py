"""Backend-neutral functions, dispatched on the type of their tensor arguments.

``ops.relu(x)`` runs ``torch.relu`` on a torch tensor, ``tf.nn.relu`` on a
TensorFlow tensor, ``npx.relu`` on an ``mx.np.ndarray`` and NumPy on a NumPy
array, and returns the same kind of tensor. Dispatch is one dict lookup on
``type(x)``. Names follow the Python array API standard where it has one
(``permute_dims``, ``astype``), with the familiar names as aliases
(``transpose``, ``cast``); reductions take ``axis`` (``dim`` works too).

Example:
    >>> import polymod as pm
    >>> from polymod import ops
    >>> ops.relu(pm.asarray([-1.0, 2.0], backend="numpy"))
    array([0., 2.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import registry
from .errors import BackendTypeError, ShapeError
from .operands import adapter_of as _of
from .operands import dispatch as _dispatch
from .operands import on as _on

_REFERENCE = registry.REFERENCE


def relu(x: Any) -> Any:
    """max(x, 0); NaN stays NaN on every backend."""
    return _of(x).relu(x)


def _float(x: Any, op: str) -> Any:
    """The adapter of ``x``, which must be float: on integer tensors the frameworks
    disagree (torch refuses or promotes, TF refuses, MXNet truncates), so all refuse."""
    adapter = _of(x)
    dtype = adapter.dtype_of(x)
    if dtype.kind not in "fc" and dtype.name != "bfloat16":  # ml_dtypes' bfloat16: kind V
        raise BackendTypeError(f"ops.{op} expects a float tensor; received a {adapter.NAME} "
                               f"tensor of dtype {dtype}. Convert it first with "
                               f"ops.astype(x, 'float32').")
    return adapter


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x))."""
    return _float(x, "sigmoid").sigmoid(x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return _float(x, "tanh").tanh(x)


def gelu(x: Any) -> Any:
    """GELU with the exact erf formula (PyTorch's default)."""
    return _float(x, "gelu").gelu(x)


def softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """Softmax along ``axis`` (``dim`` is an alias)."""
    return _float(x, "softmax").softmax(x, axis if dim is None else dim)


def log_softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """Log-softmax along ``axis`` (``dim`` is an alias)."""
    return _float(x, "log_softmax").log_softmax(x, axis if dim is None else dim)


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """``x @ weight.T + bias`` with ``weight`` in the neutral ``(out, in)`` layout."""
    return _of(x).linear(x, weight, bias)


def matmul(a: Any, b: Any) -> Any:
    """Matrix product (same as ``a @ b``)."""
    adapter, (a, b) = _dispatch(a, b)
    return adapter.matmul(a, b)


def add(a: Any, b: Any) -> Any:
    """Elementwise a + b."""
    adapter, (a, b) = _dispatch(a, b)
    return adapter.add(a, b)


def subtract(a: Any, b: Any) -> Any:
    """Elementwise a - b."""
    adapter, (a, b) = _dispatch(a, b)
    return adapter.subtract(a, b)


def multiply(a: Any, b: Any) -> Any:
    """Elementwise a * b."""
    adapter, (a, b) = _dispatch(a, b)
    return adapter.multiply(a, b)


def divide(a: Any, b: Any) -> Any:
    """Elementwise a / b."""
    adapter, (a, b) = _dispatch(a, b)
    return adapter.divide(a, b)


def maximum(a: Any, b: Any) -> Any:
    """Elementwise maximum."""
    adapter, (a, b) = _dispatch(a, b)
    return adapter.maximum(a, b)


def minimum(a: Any, b: Any) -> Any:
    """Elementwise minimum."""
    adapter, (a, b) = _dispatch(a, b)
    return adapter.minimum(a, b)


def abs(x: Any) -> Any:
    """Elementwise |x|."""
    return _of(x).abs(x)


def exp(x: Any) -> Any:
    """Elementwise e**x."""
    return _float(x, "exp").exp(x)


def log(x: Any) -> Any:
    """Elementwise natural logarithm."""
    return _float(x, "log").log(x)


def sqrt(x: Any) -> Any:
    """Elementwise square root."""
    return _float(x, "sqrt").sqrt(x)


def _axis(axis: Any, dim: Any) -> Any:
    """The reduction axis: ``dim`` is an alias; a list becomes a tuple (what every
    framework takes)."""
    axis = axis if dim is None else dim
    return tuple(axis) if isinstance(axis, list) else axis


def sum(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """Sum over ``axis`` (all axes if None); ``dim`` is an alias."""
    return _of(x).sum(x, _axis(axis, dim), keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """Mean over ``axis`` (all axes if None); ``dim`` is an alias."""
    return _float(x, "mean").mean(x, _axis(axis, dim), keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """Maximum over ``axis``; NaN wins, as in NumPy and PyTorch."""
    return _of(x).max(x, _axis(axis, dim), keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """Minimum over ``axis``; NaN wins, as in NumPy and PyTorch."""
    return _of(x).min(x, _axis(axis, dim), keepdims)


def reshape(x: Any, shape: Any) -> Any:
    """A tensor with the same data and a new shape (-1 infers one size)."""
    return _of(x).reshape(x, tuple(shape))


def permute_dims(x: Any, axes: Any = None) -> Any:
    """Reorders axes (reverses them if ``axes`` is None)."""
    return _of(x).permute_dims(x, None if axes is None else tuple(axes))


transpose = permute_dims


def flatten(x: Any, start_dim: int = 1) -> Any:
    """Merges the axes from ``start_dim`` on into one."""
    return _of(x).flatten(x, start_dim)


def concat(xs: Any, axis: int = 0, *, dim: int | None = None) -> Any:
    """Joins tensors along an existing axis."""
    adapter, xs = _dispatch(*xs)
    return adapter.concat(list(xs), _axis(axis, dim))


def stack(xs: Any, axis: int = 0, *, dim: int | None = None) -> Any:
    """Joins tensors along a new axis."""
    adapter, xs = _dispatch(*xs)
    return adapter.stack(list(xs), _axis(axis, dim))


def where(condition: Any, x: Any, y: Any) -> Any:
    """``x`` where ``condition`` holds, else ``y``."""
    adapter, (condition, x, y) = _dispatch(condition, x, y)
    return adapter.where(condition, x, y)


def zeros_like(x: Any) -> Any:
    """Zeros of the same shape, dtype and backend."""
    return _of(x).zeros_like(x)


def ones_like(x: Any) -> Any:
    """Ones of the same shape, dtype and backend."""
    return _of(x).ones_like(x)


def astype(x: Any, dtype: Any) -> Any:
    """The tensor converted to ``dtype`` (a NumPy dtype or its name)."""
    return _of(x).astype(x, dtype)


cast = astype


def _like(target: Any, x: Any, adapter: Any) -> Any:
    """``target`` on ``x``'s backend (NumPy data or the same framework's tensor)."""
    if type(target) is not type(x) and adapter.NAME != _REFERENCE:
        source = registry.adapter_of(target)
        if source is not adapter:
            target = adapter.from_numpy(source.to_numpy(target))
    elif adapter.NAME == _REFERENCE:
        target = np.asarray(target)
    return target


def _reduce(adapter: Any, losses: Any, reduction: str) -> Any:
    if reduction == "mean":
        return adapter.mean(losses, None, False)
    if reduction == "sum":
        return adapter.sum(losses, None, False)
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; received {reduction!r}.")


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Any:
    """Cross-entropy of ``logits`` (N, C[, d...]) against integer class indices ``target``
    (N[, d...]) or class probabilities (the logits' shape), as ``F.cross_entropy``.

    ``target`` may be a NumPy array; it is moved to the logits' backend.
    """
    adapter = _of(logits)
    target = _like(target, logits, adapter)
    if adapter.dtype_of(target).kind == "f":  # class probabilities
        if adapter.dtype_of(target) != adapter.dtype_of(logits):
            target = adapter.astype(target, adapter.dtype_of(logits))
        losses = -adapter.sum(target * adapter.log_softmax(logits, 1), 1, False)
        return _reduce(adapter, losses, reduction)
    if reduction == "mean" and len(adapter.shape(logits)) == 2:
        return adapter.cross_entropy(logits, target)
    return _reduce(adapter, adapter.cross_entropy_per_sample(logits, target), reduction)


def mse_loss(prediction: Any, target: Any, reduction: str = "mean") -> Any:
    """Squared error, averaged (``reduction='mean'``), summed or elementwise (``'none'``)."""
    adapter = _of(prediction)
    diff = prediction - _like(target, prediction, adapter)
    return _reduce(adapter, diff * diff, reduction)


def binary_cross_entropy_with_logits(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Binary cross-entropy of logits against targets in [0, 1], computed stably
    (``max(x, 0) - x * y + log(1 + exp(-|x|))``), as ``F.binary_cross_entropy_with_logits``."""
    adapter = _of(input)
    target = _like(target, input, adapter)
    if adapter.dtype_of(target) != adapter.dtype_of(input):
        target = adapter.astype(target, adapter.dtype_of(input))
    return _reduce(adapter, adapter.bce_with_logits(input, target), reduction)


def shape(x: Any) -> tuple:
    """The shape as a tuple of ints (None for unknown sizes in a traced graph)."""
    return _of(x).shape(x)


__all__ = ["relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "linear", "matmul",
           "add", "subtract", "multiply", "divide", "maximum", "minimum", "abs", "exp", "log",
           "sqrt", "sum", "mean", "max", "min", "reshape", "permute_dims", "transpose",
           "flatten", "concat", "stack", "where", "zeros_like", "ones_like", "astype", "cast",
           "shape", "cross_entropy", "mse_loss"]


# -- sequences (embedding, attention, recurrent layers) ------------------------------------
def take(x: Any, indices: Any, axis: int = 0) -> Any:
    """Elements of ``x`` at integer ``indices`` along ``axis`` (``np.take``'s result shape).

    Out-of-range indices raise on NumPy, torch and TensorFlow; MXNet clips them.
    """
    adapter = _of(x)
    return adapter.take(x, _on(adapter, indices), axis)


def embedding(indices: Any, weight: Any, padding_idx: int | None = None) -> Any:
    """Rows of ``weight`` (num_embeddings, dim) at integer ``indices`` (PyTorch's F.embedding).

    With ``padding_idx``, that row receives no gradient, as in PyTorch.
    """
    return _of(weight).embedding(indices, weight, padding_idx)


def split(x: Any, sections: int, axis: int = 0, *, dim: int | None = None) -> list:
    """Splits ``x`` into ``sections`` equal parts along ``axis`` (NumPy's ``split``)."""
    adapter = _of(x)
    axis = _axis(axis, dim)
    size = adapter.shape(x)[axis]
    if size is not None and size % sections:
        raise ShapeError(f"ops.split: an axis of size {size} does not split into {sections} "
                         f"equal sections.")
    return adapter.split(x, sections, axis)


def masked_fill(x: Any, mask: Any, value: float) -> Any:
    """``x`` with ``value`` where the boolean ``mask`` (broadcast to ``x``) is True."""
    adapter = _of(x)
    return adapter.masked_fill(x, _on(adapter, mask), value)


def expand_dims(x: Any, axis: int = 0) -> Any:
    """Inserts an axis of size 1 at ``axis`` (PyTorch's ``unsqueeze``)."""
    return _of(x).expand_dims(x, axis)


def squeeze(x: Any, axis: int) -> Any:
    """Removes the axis ``axis`` of size 1."""
    return _of(x).squeeze(x, axis)


def stop_gradient(x: Any) -> Any:
    """The same values, cut from gradient recording (PyTorch's ``detach``)."""
    return _of(x).stop_gradient(x)


__all__ += ["take", "embedding", "split", "masked_fill", "expand_dims", "squeeze",
            "stop_gradient"]


# -- layers: activations, dropout, convolution, pooling ---------------------------------------
def silu(x: Any) -> Any:
    """x * sigmoid(x) (swish)."""
    return _of(x).silu(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x where x >= 0, else ``negative_slope * x``; NaN stays NaN."""
    return _of(x).leaky_relu(x, negative_slope)


def dropout(x: Any, p: float = 0.5, training: bool = True) -> Any:
    """Zeroes elements with probability ``p`` (mask from polymod's seeded generator, or
    from the framework's own inside a traced graph) and scales the rest by 1/(1-p)."""
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    return _of(x).dropout(x, float(p))


def _pair(value: Any, n: int) -> tuple:
    return (int(value),) * n if isinstance(value, int) else tuple(int(v) for v in value)


def conv(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
         dilation: Any = 1, groups: int = 1) -> Any:
    """1-D or 2-D convolution in PyTorch's layout (``F.conv1d``/``F.conv2d``): ``x``
    (N, C, *spatial), ``weight`` (out, C / groups, *kernel); ``padding`` an int or one
    int per spatial dimension (symmetric)."""
    nd = len(_of(x).shape(x)) - 2
    pads = tuple((p, p) for p in _pair(padding, nd))
    return _of(x).conv(x, weight, bias, _pair(stride, nd), pads, _pair(dilation, nd), groups)


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """Max pooling of (N, C, H, W) input (``F.max_pool2d``); NaN in a window gives NaN."""
    kernel = _pair(kernel_size, 2)
    return _of(x).max_pool2d(x, kernel, kernel if stride is None else _pair(stride, 2),
                             _pair(padding, 2))


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """Average pooling of (N, C, H, W) input, zero padding counted (``F.avg_pool2d``)."""
    kernel = _pair(kernel_size, 2)
    return _of(x).avg_pool2d(x, kernel, kernel if stride is None else _pair(stride, 2),
                             _pair(padding, 2))


__all__ += ["binary_cross_entropy_with_logits", "silu", "leaky_relu", "dropout", "conv",
            "max_pool2d", "avg_pool2d"]
