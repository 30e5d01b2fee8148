"""Activation functions, with PyTorch's formulas, NaN kept and PyTorch's gradients at kinks."""

from __future__ import annotations

from typing import Any

from ._dispatch import axis_of, floating, of


def relu(x: Any) -> Any:
    """max(x, 0); NaN stays NaN on every backend."""
    return of(x).relu(x)


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x))."""
    return floating(x, "sigmoid").sigmoid(x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return floating(x, "tanh").tanh(x)


def gelu(x: Any, approximate: str = "none") -> Any:
    """GELU: ``x * Phi(x)`` with the exact erf formula (``approximate='none'``, PyTorch's
    default) or the tanh approximation (``'tanh'``: ``0.5 x (1 + tanh(sqrt(2/pi)
    (x + 0.044715 x**3)))``, GPT-2's ``gelu_new``)."""
    adapter = floating(x, "gelu")
    if approximate == "none":
        return adapter.gelu(x)
    if approximate == "tanh":
        return adapter.gelu_tanh(x)
    raise ValueError(f"ops.gelu: approximate must be 'none' or 'tanh'; received "
                     f"{approximate!r}.")


def softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """Softmax along ``axis`` (``dim`` is an alias)."""
    return floating(x, "softmax").softmax(x, axis_of(axis, dim))


def log_softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """Log-softmax along ``axis`` (``dim`` is an alias)."""
    return floating(x, "log_softmax").log_softmax(x, axis_of(axis, dim))


def silu(x: Any) -> Any:
    """x * sigmoid(x) (swish)."""
    return of(x).silu(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x where x >= 0, else ``negative_slope * x``; NaN stays NaN."""
    return of(x).leaky_relu(x, negative_slope)


def relu6(x: Any) -> Any:
    """min(max(x, 0), 6); NaN stays NaN; gradient 1 only for 0 < x < 6 (PyTorch's).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> ops.relu6(pm.asarray([-1.0, 3.0, 7.0], backend="numpy")).tolist()
        [0.0, 3.0, 6.0]
    """
    return floating(x, "relu6").relu6(x)


def hardsigmoid(x: Any) -> Any:
    """relu6(x + 3) / 6, as ``F.hardsigmoid`` (gradient 1/6 only for -3 < x < 3)."""
    adapter = floating(x, "hardsigmoid")
    fused = adapter.FUSED.get("hardsigmoid")
    return fused(x) if fused is not None else adapter.relu6(x + 3.0) / 6.0


def hardswish(x: Any) -> Any:
    """x * relu6(x + 3) / 6, as ``F.hardswish`` (same values and gradients, kinks included).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> ops.hardswish(pm.asarray([-4.0, 0.0, 1.0, 4.0], backend="numpy")).tolist()
        [-0.0, 0.0, 0.6666666865348816, 4.0]
    """
    adapter = floating(x, "hardswish")
    fused = adapter.FUSED.get("hardswish")
    if fused is not None:
        return fused(x)
    return adapter.multiply(x, adapter.relu6(x + 3.0)) / 6.0


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` where ``beta * x > threshold`` (PyTorch's
    rule, so large inputs pass through exactly)."""
    return floating(x, "softplus").softplus(x, float(beta), float(threshold))


def elu(x: Any, alpha: float = 1.0) -> Any:
    """x where x > 0, else ``alpha * (exp(x) - 1)``; NaN stays NaN."""
    return floating(x, "elu").elu(x, float(alpha))
