"""Initializers: objects that draw initial values from polymod's seeded NumPy generator.

Values are computed in NumPy (float64, then cast to the parameter's dtype), so the
same seed gives the same numbers on every backend. ``pm.init`` (polymod/init.py)
re-exports them with the in-place functions and the schemes' policy; its docstring
is the user-facing description.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .random import generator

Shape = Sequence[int]


def fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight in PyTorch's layout ``(out, in, *kernel)``."""
    if len(shape) < 2:
        n = int(shape[0]) if shape else 1
        return n, n
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return int(shape[1]) * receptive, int(shape[0]) * receptive


class Initializer:
    """Base class: ``init(shape) -> np.ndarray`` of float64 values."""

    def __call__(self, shape: Shape) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "is_default")
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """Fills with ``value``."""

    def __init__(self, value: float):
        self.value = float(value)

    def __call__(self, shape: Shape) -> np.ndarray:
        return np.full(tuple(shape), self.value)


class Zeros(Constant):
    """Fills with 0."""

    def __init__(self):
        super().__init__(0.0)

    def __repr__(self) -> str:
        return "Zeros()"


class Ones(Constant):
    """Fills with 1."""

    def __init__(self):
        super().__init__(1.0)

    def __repr__(self) -> str:
        return "Ones()"


class Normal(Initializer):
    """Normal(mean, std). ``Normal(0.01)`` is Gluon's habit: std 0.01, mean 0."""

    def __init__(self, std: float = 0.01, mean: float = 0.0):
        self.std = float(std)
        self.mean = float(mean)

    def __call__(self, shape: Shape) -> np.ndarray:
        return generator().normal(self.mean, self.std, tuple(shape))


class Uniform(Initializer):
    """Uniform in [low, high); ``Uniform(0.07)`` means [-0.07, 0.07) (Gluon habit)."""

    def __init__(self, low: float = 0.07, high: float | None = None):
        if high is None:
            low, high = -abs(low), abs(low)
        self.low = float(low)
        self.high = float(high)

    def __call__(self, shape: Shape) -> np.ndarray:
        return generator().uniform(self.low, self.high, tuple(shape))


class XavierUniform(Initializer):
    """Glorot uniform: U(+-gain * sqrt(6 / (fan_in + fan_out)))."""

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def __call__(self, shape: Shape) -> np.ndarray:
        fan_in, fan_out = fans(shape)
        bound = self.gain * math.sqrt(6.0 / (fan_in + fan_out))
        return generator().uniform(-bound, bound, tuple(shape))


class KaimingUniform(Initializer):
    """He uniform as in PyTorch (leaky_relu gain with slope ``a``, fan_in mode)."""

    def __init__(self, a: float = 0.0):
        self.a = float(a)

    def __call__(self, shape: Shape) -> np.ndarray:
        fan_in, _ = fans(shape)
        gain = math.sqrt(2.0 / (1 + self.a**2))
        bound = math.sqrt(3.0) * gain / math.sqrt(fan_in) if fan_in else 0.0
        return generator().uniform(-bound, bound, tuple(shape))


class FanInUniform(Initializer):
    """U(+-1/sqrt(fan_in)): PyTorch's default bias, given the fan-in of its weight."""

    def __init__(self, fan_in: int):
        self.fan_in = int(fan_in)

    def __call__(self, shape: Shape) -> np.ndarray:
        bound = 1.0 / math.sqrt(self.fan_in) if self.fan_in > 0 else 0.0
        return generator().uniform(-bound, bound, tuple(shape))


class WeightsOnly(Initializer):
    """Gluon's ``initialize(init=...)``: ``init`` for weights (2 or more dimensions); a 1-D
    parameter keeps its own constant initializer (BatchNorm's ones) or gets zeros (biases).
    """

    def __init__(self, init: Initializer):
        self.init = init

    def resolve(self, shape: Shape, own: Initializer | None,
                fan_in: int | None = None) -> Initializer:
        """The initializer for one parameter whose own initializer is ``own``."""
        if len(shape) >= 2:
            return self.init
        return own if isinstance(own, Constant) else Zeros()

    def __call__(self, shape: Shape) -> np.ndarray:
        return self.resolve(shape, None)(shape)


class Scheme(WeightsOnly):
    """A framework's default initialisation by name, for ``initialize(init='keras')``.

    ``'torch'``: kaiming-uniform (a=sqrt(5)) weights, U(+-1/sqrt(fan_in)) biases;
    ``'keras'``: glorot-uniform weights, zero biases; ``'gluon'``: U(+-0.07) weights,
    zero biases. Other 1-D parameters keep their own constant (BatchNorm's ones).
    """

    def __init__(self, name: str):
        self.name = _checked_scheme(name)
        super().__init__(scheme_weight(name))

    def resolve(self, shape: Shape, own: Initializer | None,
                fan_in: int | None = None) -> Initializer:
        if len(shape) < 2 and _SCHEME_RULES[self.name][1] and not isinstance(own, Constant):
            if isinstance(own, FanInUniform):
                return own
            if fan_in:
                return FanInUniform(fan_in)
        return super().resolve(shape, own, fan_in)

    def __repr__(self) -> str:
        return f"Scheme({self.name!r})"


_BY_NAME = {"zeros": Zeros, "ones": Ones, "normal": Normal, "uniform": Uniform,
            "xavier_uniform": XavierUniform, "glorot_uniform": XavierUniform,
            "kaiming_uniform": KaimingUniform}
#: init scheme -> (a new weight initializer, whether 1-D parameters without their own
#: constant get U(+-1/sqrt(fan_in)) rather than zeros). The names are those frameworks'
#: default initialisations: public values of ``init=``, with or without the framework.
_SCHEME_RULES: dict[str, tuple[Callable[[], Initializer], bool]] = {
    "torch": (lambda: KaimingUniform(math.sqrt(5)), True),
    "keras": (XavierUniform, False),
    "gluon": (lambda: Uniform(0.07), False),
}
SCHEMES = tuple(_SCHEME_RULES)
_scheme = SCHEMES[0]


def _checked_scheme(name: str) -> str:
    if name not in SCHEMES:
        raise ValueError(f"Unknown init scheme {name!r}; expected one of {SCHEMES}.")
    return name


def scheme_weight(name: str) -> Initializer:
    """A new weight initializer of a scheme (one table for ``Scheme`` and the default)."""
    return _SCHEME_RULES[name][0]()


def get(init: Initializer | str | None) -> Initializer | None:
    """An initializer from an object or a name (``'zeros'``, ``'normal'``, ...)."""
    if init is None or isinstance(init, Initializer):
        return init
    if isinstance(init, str) and init.lower() in _BY_NAME:
        return _BY_NAME[init.lower()]()
    if isinstance(init, str) and init.lower() in SCHEMES:
        return Scheme(init.lower())
    if callable(init):
        return init  # a user callable shape -> array
    raise ValueError(f"Unknown initializer {init!r}; expected an Initializer, a callable "
                     f"shape -> array, one of {sorted(_BY_NAME)}, or a scheme {SCHEMES}.")


def set_scheme(name: str) -> None:
    """Chooses the default scheme of new layers: 'torch' (default), 'keras' or 'gluon'."""
    global _scheme
    _scheme = _checked_scheme(name)


def default_weight() -> Initializer:
    """The current scheme's weight initializer."""
    chosen = scheme_weight(_scheme)
    chosen.is_default = True
    return chosen


def default_bias(fan_in: int) -> Initializer:
    """The current scheme's bias initializer for a weight with ``fan_in`` inputs."""
    chosen = FanInUniform(fan_in) if _SCHEME_RULES[_scheme][1] else Zeros()
    chosen.is_default = True
    return chosen
