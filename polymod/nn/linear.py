"""Fully connected layers and Flatten.

``Linear``, ``LazyLinear`` and ``Dense`` are one class (``Linear``), so their
parameters are always ``weight`` (shape ``(out_features, in_features)``, PyTorch's
layout, on every backend) and ``bias``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import init as _init
from .. import ops
from ..errors import ShapeError
from ..handles import Parameter
from ..module import Module
from ..module import diagnose as _diagnose
from ..module.core import _NOTHING, _fast_types
from ..module.lazy import check_shapes
from .activation import ACTIVATIONS, ADAPTER_ACTIVATIONS


class Linear(Module):
    """``y = x @ weight.T + bias``, optionally followed by an activation.

    Args:
        in_features: size of each input sample; None to infer it from the first input.
        out_features: size of each output sample.
        bias: whether to learn an additive bias.
        activation: None, the name of an activation applied to the output (``'relu'``,
            ``'sigmoid'``, ``'tanh'``, ``'gelu'``, ``'softmax'``), or a function of one
            tensor written with ``polymod.ops`` (Keras habit: ``activation=ops.silu``).

    Example:
        >>> import polymod as pm
        >>> layer = pm.nn.Linear(20, 4)
        >>> layer.weight.shape
        (4, 20)
        >>> layer(pm.rand(2, 20, backend="numpy")).shape
        (2, 4)
    """

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, in_features: int | None, out_features: int, bias: bool = True,
                 activation: str | Callable[[Any], Any] | None = None):
        super().__init__()
        if not isinstance(out_features, int) or isinstance(out_features, bool) \
                or out_features < 0:
            raise ValueError(f"out_features must be a non-negative int; received "
                             f"out_features={out_features!r}.")
        if in_features is not None and (not isinstance(in_features, int) or in_features < 0):
            raise ValueError(f"in_features must be a non-negative int or None; received "
                             f"in_features={in_features!r}.")
        if isinstance(activation, Module):  # it would hold state nobody registers
            raise ValueError(f"Linear's activation must be a name or a function; received "
                             f"the module {type(activation).__name__}. Chain it instead: "
                             f"nn.Sequential(nn.Linear(...), {type(activation).__name__}()).")
        if activation is not None and not callable(activation) and (
                not isinstance(activation, str) or activation.lower() not in ACTIVATIONS):
            raise ValueError(f"Unknown activation {activation!r}; expected None, a function or "
                             f"{sorted(ACTIVATIONS)}.")
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation.lower() if isinstance(activation, str) else activation
        self.weight = Parameter()
        self.bias = Parameter() if bias else None
        if in_features is not None:
            self.build()

    def build(self, X: Any = None) -> None:
        if self.in_features is None:  # from a loaded weight, else from the first input
            weight = self._params["weight"]
            self.in_features = weight.shape[1] if weight.materialized else int(X.shape[-1])
        fan_in = self.in_features
        params = self._params
        params["weight"].materialize((self.out_features, fan_in))
        if "bias" in params:
            params["bias"].materialize((self.out_features,), default=_init.default_bias(fan_in))
        self.__dict__["_built"] = True

    def check_lazy_shapes(self, shapes: dict[str, tuple]) -> str | None:
        in_features = "in_features" if self.in_features is None else self.in_features
        return check_shapes(self, shapes, {"weight": (self.out_features, in_features),
                                           "bias": (self.out_features,)})

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        name = self.activation
        act = (name if callable(name) else None if name in (None, "linear", "identity")
               else getattr(adapter, name) if name in ADAPTER_ACTIVATIONS
               else getattr(ops, name))
        # plain: this class's own forward, so __call__ may run it inline
        return {"linear": adapter.linear, "act": act,
                "plain": type(self).forward is Linear.forward}

    def __call__(self, x: Any = _NOTHING, /, *args: Any, **kwargs: Any) -> Any:
        # The commonest layer, called on one tensor, runs its forward here: one Python frame
        # less (about 0.4 us of a 10 us MLP on torch). Anything else (a subclass's forward,
        # an instrument's forward on the instance, keywords, NumPy input, a lazy or unbound
        # layer) takes Module.__call__.
        d = self.__dict__
        if (d["_ready"] and type(x) in _fast_types and not (args or kwargs) and "forward" not in d
                and (bound := d["_bound"]).plain):
            try:
                out = bound.linear(x, d["weight"], d["bias"])
                return out if bound.act is None else bound.act(out)
            except Exception as err:
                _diagnose.explain(self, err, (x,))
                raise
        return Module.__call__(self, x, *args, **kwargs)

    def forward(self, X: Any) -> Any:
        bound = self._bound
        out = bound.linear(X, self.weight, self.bias)
        return out if bound.act is None else bound.act(out)

    def check_input(self, X: Any, *rest: Any) -> ShapeError | None:
        shape = tuple(X.shape)
        if not shape:
            features = self.in_features if self.in_features is not None else -1
            return ShapeError(f"Linear expects input with at least 1 dimension (the features; "
                              f"a batch adds one in front); received a scalar (shape {shape}). "
                              f"Give it a batch dimension, e.g. x.reshape(1, {features}).")
        if self.in_features is not None and shape[-1] != self.in_features:
            return ShapeError(
                f"Linear expects input with {self.in_features} features (last dimension); "
                f"received shape {shape}, i.e. {shape[-1]} features.")
        return None

    def extra_repr(self) -> str:
        text = (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={'bias' in self._params}")
        act = self.activation
        act = getattr(act, "__name__", act) if callable(act) else act
        return text + (f", activation={act!r}" if act else "")


def LazyLinear(out_features: int, bias: bool = True, dtype: Any = None) -> Linear:  # noqa: N802 -- a layer name
    """A ``Linear`` whose ``in_features`` is inferred from the first input (PyTorch habit).

    Returns a ``Linear`` (as PyTorch's ``LazyLinear`` becomes one after its first call),
    so ``type(layer) == nn.Linear`` checks keep working.

    Example:
        >>> import polymod as pm
        >>> layer = pm.nn.LazyLinear(4)
        >>> layer(pm.rand(2, 20, backend="numpy")).shape, layer.in_features
        ((2, 4), 20)
    """
    return Linear(None, out_features, bias, dtype=dtype)


def Dense(units: int, activation: str | Callable[[Any], Any] | None = None,  # noqa: N802
          use_bias: bool = True, in_units: int | None = None) -> Linear:
    """Gluon/Keras habit: ``Dense(256, activation='relu')``; a ``Linear`` underneath.

    ``activation`` is a name or a function of one tensor (``activation=ops.silu``).

    Example:
        >>> import polymod as pm
        >>> layer = pm.nn.Dense(4, activation="relu")
        >>> bool(layer(pm.rand(2, 20, backend="numpy")).min() >= 0)
        True
    """
    return Linear(in_units, units, use_bias, activation)


class Flatten(Module):
    """Merges the dimensions from ``start_dim`` on into one (PyTorch habit).

    Example:
        >>> import polymod as pm
        >>> pm.nn.Flatten()(pm.zeros(2, 3, 4, backend="numpy")).shape
        (2, 12)
    """

    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = start_dim

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"flatten": adapter.flatten}

    def forward(self, X: Any) -> Any:
        return self._bound.flatten(X, self.start_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}"
