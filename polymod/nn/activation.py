"""Activation layers: thin modules over ``polymod.ops`` functions."""

from __future__ import annotations

from typing import Any

from .. import ops
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
    """GELU, as ``torch.nn.GELU``: the exact erf formula (``approximate='none'``) or the
    tanh approximation (``approximate='tanh'``).

    Example:
        >>> import polymod as pm
        >>> pm.nn.GELU(approximate="tanh")
        GELU(approximate='tanh')
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU's approximate must be 'none' or 'tanh'; received "
                             f"{approximate!r}.")
        self.approximate = approximate
        self.op_name = "gelu" if approximate == "none" else "gelu_tanh"

    def extra_repr(self) -> str:
        return "" if self.approximate == "none" else f"approximate={self.approximate!r}"


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
#: Names whose adapter function takes the tensor alone (Linear calls it directly); the
#: other names are called through ``polymod.ops``.
ADAPTER_ACTIVATIONS = frozenset({"relu", "sigmoid", "tanh", "gelu", "softmax", "silu",
                                 "leaky_relu"})


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


class ReLU6(Module):
    """min(max(x, 0), 6), as ``torch.nn.ReLU6`` (``inplace`` is accepted and ignored: the
    result is always a new tensor).

    Example:
        >>> import polymod as pm
        >>> pm.nn.ReLU6()(pm.asarray([-1.0, 3.0, 8.0], backend="numpy")).tolist()
        [0.0, 3.0, 6.0]
    """

    def __init__(self, inplace: bool = False):
        super().__init__()

    def forward(self, X: Any) -> Any:
        return ops.relu6(X)


class Hardsigmoid(ReLU6):
    """relu6(x + 3) / 6, as ``torch.nn.Hardsigmoid``."""

    def forward(self, X: Any) -> Any:
        return ops.hardsigmoid(X)


class Hardswish(ReLU6):
    """x * relu6(x + 3) / 6, as ``torch.nn.Hardswish`` (MobileNetV3's activation)."""

    def forward(self, X: Any) -> Any:
        return ops.hardswish(X)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear above ``threshold``, as ``torch.nn.Softplus``.

    Example:
        >>> import polymod as pm
        >>> round(float(pm.nn.Softplus()(pm.zeros(1, backend="numpy"))[0]), 4)
        0.6931
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = float(beta)
        self.threshold = float(threshold)

    def forward(self, X: Any) -> Any:
        return ops.softplus(X, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class ELU(Module):
    """x for x > 0, else alpha (exp(x) - 1), as ``torch.nn.ELU`` (``inplace`` ignored).

    Example:
        >>> import polymod as pm
        >>> pm.nn.ELU(alpha=0.5)(pm.asarray([1.0, 0.0], backend="numpy")).tolist()
        [1.0, 0.0]
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, X: Any) -> Any:
        return ops.elu(X, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


ACTIVATIONS.update({"silu": SiLU, "leaky_relu": LeakyReLU, "relu6": ReLU6,
                    "hardswish": Hardswish, "hardsigmoid": Hardsigmoid, "softplus": Softplus,
                    "elu": ELU})
