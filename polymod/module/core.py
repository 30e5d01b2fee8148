"""``Module``: the one base class of every polymod layer and model.

The class is assembled from one mixin per concern, each in its own file:
``registration`` (attribute assignment), ``tree`` (traversal), ``state``
(state_dict, load, copy, pickle), ``lazy`` (first call, build, initialize) and
``binding`` (the per-binding record). This file holds the call itself, modes,
``to`` and ``repr``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .. import registry, selection
from ..dtypes import FLOAT_NAMES, float_dtype
from ..errors import BackendNameError, BackendTypeError
from . import casting, diagnose, registration
from .binding import adapter_of_module, bind_tree
from .lazy import LazyShapes
from .registration import Registration
from .state import State
from .tree import Traversal

T = TypeVar("T", bound="Module")
_NOTHING = object()  # __call__ got no positional argument
#: Tensor types that take ``__call__``'s fast path: the frameworks' own (never NumPy data,
#: which is converted first). Filled by the registry as adapters load.
_fast_types = registry.framework_types


def _is_dtype_name(name: str) -> bool:
    """Whether ``net.to(name)`` means a dtype (torch habit: ``net.to("bfloat16")``)."""
    try:
        registry.canonical_name(name)
        return False
    except BackendNameError:
        pass
    try:
        return float_dtype(name).name in FLOAT_NAMES
    except BackendTypeError:
        return False


class Module(Registration, Traversal, State, LazyShapes):
    """Base class of polymod layers and models; subclass it and define ``forward``.

    Example:
        >>> import polymod as pm
        >>> from polymod import nn, ops
        >>> class MLP(pm.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = nn.LazyLinear(256)
        ...         self.out = nn.LazyLinear(10)
        ...     def forward(self, X):
        ...         return self.out(ops.relu(self.hidden(X)))
        >>> MLP()(pm.rand(2, 20, backend="numpy")).shape
        (2, 10)
    """

    training: bool
    dtype_argument: bool = False
    """Set to True on a layer with parameters: its ``__init__`` then takes ``dtype=``
    (``nn.Linear(4, 2, dtype="bfloat16")``), the values drawn as in float32 and cast."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.dtype_argument and "__init__" in cls.__dict__:
            cls.__init__ = casting.with_dtype_argument(cls.__dict__["__init__"])

    def __init__(self) -> None:
        d = self.__dict__
        d["_params"] = {}  # name -> Parameter | Buffer | Constant, in registration order
        d["_bound"] = None  # the Binding record once bound (module/binding.py)
        d["_cache"] = {}  # traversal caches (module/tree.py)
        d["_dtype"] = np.dtype("float32")
        d["_built"] = type(self).build is LazyShapes.build
        d["_ready"] = False  # bound and built: __call__ takes its fast path
        d["training"] = True

    # -- the call -------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses define it with native operators and ``polymod.ops``."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, ...).")

    def __call__(self, x: Any = _NOTHING, /, *args: Any, **kwargs: Any) -> Any:
        # Hot path, one framework tensor and no keywords: bound to `x` and passed on.
        if self._ready and type(x) in _fast_types and not (args or kwargs):
            try:
                return self.forward(x)
            except Exception as err:
                diagnose.explain(self, err, (x,))
                raise
        args = args if x is _NOTHING else (x, *args)
        if self._ready:
            args = self._adopt_numpy(args)
            try:
                return self.forward(*args, **kwargs)
            except Exception as err:
                diagnose.explain(self, err, args)
                raise
        return self._first_call(args, kwargs)

    def check_input(self, *inputs: Any) -> Any:
        """Hook for layers: after a failure, return an error explaining bad ``inputs``."""
        return None

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        """Hook for layers: the backend functions to keep in the binding record
        (``self._bound.<name>`` in ``forward``), e.g. ``{"linear": adapter.linear}``."""
        return {}

    # -- binding -----------------------------------------------------------------------------
    @property
    def backend(self) -> str | None:
        """The backend this module is bound to, or None before its first call / ``.to``."""
        adapter = adapter_of_module(self)
        return None if adapter is None else adapter.NAME

    def to(self: T, backend: str | None = None, device: Any = None, *,
           dtype: Any = None) -> T:
        """The model on ``backend``: itself if it is already there or not yet bound (it
        binds), otherwise a copy with the same weights (this model is left untouched).

        ``dtype`` ("float16", "bfloat16", "float32", "float64", or a NumPy / framework
        dtype) casts the float parameters, buffers and constants in place, as torch's
        ``to(dtype)`` does (integer buffers keep theirs); ``net.to("bfloat16")`` alone is
        read as a dtype. Make optimisers and twins after it: they hold the old storage.

        Raises:
            DTypeError: the backend cannot compute in ``dtype`` on the CPU (the message
                says why, naming the op).

        Example:
            >>> import polymod as pm
            >>> net = pm.nn.Linear(2, 3)
            >>> net.to("numpy") is net
            True
            >>> net.to(dtype="bfloat16").weight.dtype.name
            'bfloat16'
        """
        if dtype is None and isinstance(backend, str) and _is_dtype_name(backend):
            backend, dtype = None, backend
        if backend is None and device is None and dtype is not None:
            return casting.cast_tree(self, float_dtype(dtype))
        adapter = selection.chosen_adapter(backend)
        if dtype is not None:
            dtype = float_dtype(dtype)
            casting.check_backend_dtype(adapter, dtype, self)
            mine = adapter_of_module(self)
            if mine is adapter:
                return casting.cast_tree(self, dtype)
            # cast while the values are NumPy data, then bind: one conversion less
            net = self if mine is None else self.unbound_copy()
            return bind_tree(casting.cast_tree(net, dtype), adapter, device)
        mine = adapter_of_module(self)
        if mine is None:
            return bind_tree(self, adapter, device)
        if mine is adapter:
            return self
        return bind_tree(self.unbound_copy(), adapter, device)

    # -- modes -------------------------------------------------------------------------------
    def train(self: T, mode: bool = True) -> T:
        """Sets training mode on this module and every submodule (PyTorch habit)."""
        for module in self.modules():
            module.__dict__["training"] = bool(mode)
        return self

    def eval(self: T) -> T:
        """Sets evaluation mode (``train(False)``)."""
        return self.train(False)

    def apply(self: T, fn: Callable[[Module], Any]) -> T:
        """Calls ``fn`` on every submodule, then on this module (PyTorch order)."""
        for module in reversed(list(self.modules())):
            fn(module)
        return self

    # -- printing ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The part inside the parentheses of ``repr`` (PyTorch habit)."""
        return ""

    def __repr__(self) -> str:  # PyTorch's layout
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({name}): " + repr(child).replace("\n", "\n  ")
                    for name, child in self.named_children()]
        if not children:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines + children) + "\n)"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.__dict__["_params"]))


registration.PROTECTED = frozenset(
    name for cls in Module.__mro__[:-1] for name, value in vars(cls).items()
    if callable(value) or isinstance(value, property))
