"""Activation layers: thin modules over ``polymod.ops`` functions."""

from __future__ import annotations

from typing import Any

from ..module import Module


class _Activation(Module):
    """One elementwise op of the bound backend, looked up once at binding time."""

    op_name = ""

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"fn": getattr(adapter, self.op_name)}

    def forward(self, X: Any) -> Any:
        return self._bound.fn(X)


class ReLU(_Activation):
    """max(x, 0), elementwise; NaN stays NaN on every backend."""

    op_name = "relu"


class Sigmoid(_Activation):
    """1 / (1 + exp(-x)), elementwise."""

    op_name = "sigmoid"


class Tanh(_Activation):
    """Hyperbolic tangent, elementwise."""

    op_name = "tanh"


class GELU(_Activation):
    """GELU with the exact erf formula (PyTorch's default)."""

    op_name = "gelu"


class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, X: Any) -> Any:
        return X


class Softmax(Module):
    """Softmax along ``dim``.

    Example:
        >>> import polymod as pm
        >>> out = pm.nn.Softmax()(pm.zeros(1, 4, backend="numpy"))
        >>> out.tolist()
        [[0.25, 0.25, 0.25, 0.25]]
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"fn": adapter.softmax}

    def forward(self, X: Any) -> Any:
        return self._bound.fn(X, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "gelu": GELU,
               "softmax": Softmax, "linear": Identity, "identity": Identity}


def get(activation: Any) -> Module | None:
    """A module for ``activation``: None, a name (``'relu'``) or a module."""
    if activation is None or isinstance(activation, Module):
        return activation
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return ACTIVATIONS[activation.lower()]()
    raise ValueError(f"Unknown activation {activation!r}; expected None, a polymod Module, or "
                     f"one of {sorted(ACTIVATIONS)}.")


class SiLU(_Activation):
    """x * sigmoid(x) (also called swish), elementwise."""

    op_name = "silu"


class LeakyReLU(Module):
    """x where x >= 0, else ``negative_slope * x``; NaN stays NaN.

    Example:
        >>> import polymod as pm
        >>> pm.nn.LeakyReLU(0.1)(pm.asarray([-1.0, 2.0], backend="numpy")).tolist()
        [-0.10000000149011612, 2.0]
    """

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"fn": adapter.leaky_relu}

    def forward(self, X: Any) -> Any:
        return self._bound.fn(X, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class LogSoftmax(Softmax):
    """Log-softmax along ``dim``."""

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"fn": adapter.log_softmax}


ACTIVATIONS.update({"silu": SiLU, "leaky_relu": LeakyReLU})
