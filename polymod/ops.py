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

from . import backend as _backend

_by_type = _backend._adapter_by_type


def _of(x: Any) -> Any:
    try:
        return _by_type[type(x)]
    except KeyError:
        return _backend.adapter_of(x)


def _first_tensor(*args: Any) -> Any:
    for x in args:
        if not isinstance(x, (int, float, bool)):
            return _of(x)
    return _backend.resolve(None)


def relu(x: Any) -> Any:
    """max(x, 0); NaN stays NaN on every backend."""
    return _of(x).relu(x)


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x))."""
    return _of(x).sigmoid(x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return _of(x).tanh(x)


def gelu(x: Any) -> Any:
    """GELU with the exact erf formula (PyTorch's default)."""
    return _of(x).gelu(x)


def softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """Softmax along ``axis`` (``dim`` is an alias)."""
    return _of(x).softmax(x, axis if dim is None else dim)


def log_softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """Log-softmax along ``axis`` (``dim`` is an alias)."""
    return _of(x).log_softmax(x, axis if dim is None else dim)


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """``x @ weight.T + bias`` with ``weight`` in the neutral ``(out, in)`` layout."""
    return _of(x).linear(x, weight, bias)


def matmul(a: Any, b: Any) -> Any:
    """Matrix product (same as ``a @ b``)."""
    return _first_tensor(a, b).matmul(a, b)


def add(a: Any, b: Any) -> Any:
    """Elementwise a + b."""
    return _first_tensor(a, b).add(a, b)


def subtract(a: Any, b: Any) -> Any:
    """Elementwise a - b."""
    return _first_tensor(a, b).subtract(a, b)


def multiply(a: Any, b: Any) -> Any:
    """Elementwise a * b."""
    return _first_tensor(a, b).multiply(a, b)


def divide(a: Any, b: Any) -> Any:
    """Elementwise a / b."""
    return _first_tensor(a, b).divide(a, b)


def maximum(a: Any, b: Any) -> Any:
    """Elementwise maximum."""
    return _first_tensor(a, b).maximum(a, b)


def minimum(a: Any, b: Any) -> Any:
    """Elementwise minimum."""
    return _first_tensor(a, b).minimum(a, b)


def abs(x: Any) -> Any:
    """Elementwise |x|."""
    return _of(x).abs(x)


def exp(x: Any) -> Any:
    """Elementwise e**x."""
    return _of(x).exp(x)


def log(x: Any) -> Any:
    """Elementwise natural logarithm."""
    return _of(x).log(x)


def sqrt(x: Any) -> Any:
    """Elementwise square root."""
    return _of(x).sqrt(x)


def _axis(axis: Any, dim: Any) -> Any:
    return axis if dim is None else dim


def sum(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """Sum over ``axis`` (all axes if None); ``dim`` is an alias."""
    return _of(x).sum(x, _axis(axis, dim), keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None) -> Any:
    """Mean over ``axis`` (all axes if None); ``dim`` is an alias."""
    return _of(x).mean(x, _axis(axis, dim), keepdims)


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
    xs = list(xs)
    return _of(xs[0]).concat(xs, _axis(axis, dim))


def stack(xs: Any, axis: int = 0, *, dim: int | None = None) -> Any:
    """Joins tensors along a new axis."""
    xs = list(xs)
    return _of(xs[0]).stack(xs, _axis(axis, dim))


def where(condition: Any, x: Any, y: Any) -> Any:
    """``x`` where ``condition`` holds, else ``y``."""
    return _first_tensor(condition, x, y).where(condition, x, y)


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


def cross_entropy(logits: Any, target: Any) -> Any:
    """Mean cross-entropy of ``logits`` (N, C) against integer class indices ``target`` (N,).

    ``target`` may be a NumPy array; it is moved to the logits' backend.
    """
    adapter = _of(logits)
    if type(target) is not type(logits) and adapter.NAME != "numpy":
        target = adapter.from_numpy(_backend.adapter_of(target).to_numpy(target))
    return adapter.cross_entropy(logits, target)


def mse_loss(prediction: Any, target: Any) -> Any:
    """Mean squared error."""
    diff = prediction - target
    return _of(diff).mean(diff * diff, None, False)


def shape(x: Any) -> tuple:
    """The shape as a tuple of ints (None for unknown sizes in a traced graph)."""
    return _of(x).shape(x)


__all__ = ["relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "linear", "matmul",
           "add", "subtract", "multiply", "divide", "maximum", "minimum", "abs", "exp", "log",
           "sqrt", "sum", "mean", "max", "min", "reshape", "permute_dims", "transpose",
           "flatten", "concat", "stack", "where", "zeros_like", "ones_like", "astype", "cast",
           "shape", "cross_entropy", "mse_loss"]
