"""``pm.init``: initializers, in-place initialisation (PyTorch habit) and the policy of
``Module.initialize`` (Gluon habit).

Every value is computed in NumPy (float64, then cast to the parameter's dtype)
and written into the native storage, so the same seed gives the same numbers
on every backend. Two ways to use them:

* as objects, given to a parameter or to ``Module.initialize``:
  ``pm.Parameter(shape=(3,), init=pm.init.Normal(0.01))``,
  ``net.initialize(init=pm.init.Normal(0.01), force_reinit=True)``;
* in place, PyTorch habit: ``pm.init.normal_(layer.weight, std=0.01)``.

Default initialisation follows PyTorch (``'torch'`` scheme: kaiming-uniform with
a=sqrt(5) for weights, uniform(+-1/sqrt(fan_in)) for biases). The ``'keras'``
scheme is glorot-uniform/zeros, the ``'gluon'`` scheme uniform(+-0.07)/zeros.
"""

from __future__ import annotations

from typing import Any

from . import registry
from .handles import Handle, handle_of
from .initializers import (
    SCHEMES,
    Constant,
    FanInUniform,
    Initializer,
    KaimingUniform,
    Normal,
    Ones,
    Scheme,
    Uniform,
    WeightsOnly,
    XavierUniform,
    Zeros,
    default_bias,
    default_weight,
    fans,
    get,
    set_scheme,
)

__all__ = ["Initializer", "Constant", "Zeros", "Ones", "Normal", "Uniform", "XavierUniform",
           "KaimingUniform", "FanInUniform", "WeightsOnly", "Scheme", "SCHEMES", "fans", "get",
           "set_scheme", "default_weight", "default_bias", "normal_", "uniform_", "zeros_",
           "ones_", "constant_", "xavier_uniform_", "kaiming_uniform_", "initialize_module"]


def initialize_module(root: Any, init: Any, force_reinit: bool) -> None:
    """``Module.initialize(init=...)``'s rule, applied to every module under ``root``.

    ``init`` applies to weights (parameters of 2 or more dimensions); a 1-D parameter
    keeps its own constant initializer (BatchNorm's and LayerNorm's scale: ones) or is
    set to zeros (biases), as Gluon does; the ``'torch'`` scheme gives a bias
    U(+-1/sqrt(fan_in)) of its module's ``weight``. Values drawn by the default scheme
    are replaced; with ``force_reinit`` every value is. Lazy parameters get the rule
    when their shape becomes known.
    """
    chosen = get(init)
    if chosen is None:
        return
    rule = chosen if isinstance(chosen, WeightsOnly) else WeightsOnly(chosen)
    for module in root.modules():
        params = dict(module.named_parameters(recurse=False))
        weight = params.get("weight")
        fan_in = (fans(weight.shape)[0] if weight is not None and weight.materialized
                  and len(weight.shape) >= 2 else None)
        for name, handle in params.items():
            if not handle.materialized:
                handle.init = rule
            elif force_reinit or handle.default_init:
                fill = rule.resolve(handle.shape, handle.made_with,
                                    fan_in if name == "bias" else None)
                handle.assign(fill(handle.shape))


# In-place initialisers (PyTorch habit) -------------------------------------------------

def _fill(target: Any, init: Initializer) -> Any:
    if isinstance(target, Handle):
        target.assign(init(target.shape))
        return target
    handle = handle_of(target)
    if handle is not None:  # a parameter attribute: through its handle (no longer default)
        handle.assign(init(handle.shape))
        return target
    adapter = registry.adapter_of(target)
    if adapter.assign(target, init(tuple(adapter.shape(target)))) is not None:
        raise TypeError(f"Cannot fill a {adapter.NAME} array in place (its arrays are "
                        f"immutable); fill the parameter through its attribute or handle.")
    return target


def normal_(p: Any, mean: float = 0.0, std: float = 1.0) -> Any:
    """Fills ``p`` (a parameter attribute or handle) with N(mean, std), in place."""
    return _fill(p, Normal(std, mean))


def uniform_(p: Any, a: float = 0.0, b: float = 1.0) -> Any:
    """Fills ``p`` with U(a, b), in place."""
    return _fill(p, Uniform(a, b))


def zeros_(p: Any) -> Any:
    """Fills ``p`` with zeros, in place."""
    return _fill(p, Zeros())


def ones_(p: Any) -> Any:
    """Fills ``p`` with ones, in place."""
    return _fill(p, Ones())


def constant_(p: Any, value: float) -> Any:
    """Fills ``p`` with ``value``, in place.

    Example:
        >>> import polymod as pm
        >>> layer = pm.nn.Linear(2, 3)
        >>> float(pm.init.constant_(layer.weight, 1.0)[0, 0])
        1.0
    """
    return _fill(p, Constant(value))


def xavier_uniform_(p: Any, gain: float = 1.0) -> Any:
    """Fills ``p`` with Glorot-uniform values, in place."""
    return _fill(p, XavierUniform(gain))


def kaiming_uniform_(p: Any, a: float = 0.0) -> Any:
    """Fills ``p`` with He-uniform values (PyTorch's formula), in place."""
    return _fill(p, KaimingUniform(a))
