"""Lazy shapes: binding and building a module on its first call, and ``initialize``.

A layer whose sizes come from its input (``LazyLinear``) defines ``build(X)``; the
first call binds the module to the input's backend, runs ``build`` once (without
recording gradients), and from then on ``__call__`` takes its fast path. Until then,
reading a lazy parameter raises a clear error (``LazySlot``).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .. import init as _init
from .. import registry, selection
from ..errors import BackendTypeError
from . import diagnose
from .binding import adapter_of_module, bind_tree

_ndarray = np.ndarray
# Re-entrant: a model's first call runs its children's first calls inside it.
_FIRST_CALL_LOCK = threading.RLock()


class LazySlot:
    """Class-level fallback for the name of a lazy parameter.

    A non-data descriptor: the instance ``__dict__`` wins once the parameter has a
    value, so reading it costs nothing extra; before that, reading it lands here
    and raises a clear error instead of a bare AttributeError.
    """

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return self
        handle = obj.__dict__.get("_params", {}).get(self.name)
        if handle is not None and not handle.materialized:
            raise handle._uninitialized()
        raise AttributeError(f"'{type(obj).__name__}' object has no attribute '{self.name}'")


def check_shapes(owner: Any, shapes: dict[str, tuple], expected: dict[str, tuple]) -> str | None:
    """For a layer's ``check_lazy_shapes``: compares loaded ``shapes`` with ``expected``.

    ``expected`` maps a handle name to its shape, where a size not known yet is a name
    (``'in_features'``); every handle naming it must agree on it.

    Example:
        >>> import polymod as pm
        >>> check_shapes(pm.nn.LazyLinear(4), {"weight": (7, 3), "bias": (5,)},
        ...              {"weight": (4, "in_features"), "bias": (4,)})
        'Linear needs weight (4, in_features) and bias (4,); the data has weight (7, 3) and bias (5,)'
    """
    sizes: dict[str, tuple[str, int]] = {}
    fits = True
    for name, got in shapes.items():
        want = expected.get(name)
        if want is None:
            continue
        if len(got) != len(want):
            fits = False
            break
        for size, template in zip(got, want, strict=True):
            if isinstance(template, int):
                fits = fits and size == template
            elif sizes.setdefault(template, (name, size))[1] != size:
                fits = False
    if fits:
        return None
    names = [n for n in expected if n in shapes]
    need = _listed([f"{n} ({', '.join(map(str, expected[n]))}{',' * (len(expected[n]) == 1)})"
                    for n in names])
    have = _listed([f"{n} {tuple(shapes[n])}" for n in names])
    return f"{type(owner).__name__} needs {need}; the data has {have}"


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def first_tensor(values: Any) -> Any:
    """The first value that is a tensor of some backend (a keyword-only first call)."""
    for value in values:
        try:
            registry.adapter_of(value)
            return value
        except BackendTypeError:
            continue
    return None


def _plain_array(module: Any, x: Any) -> np.ndarray:
    """``np.asarray(x)`` for NumPy data that is not a plain ndarray (see ``adopt_array``)."""
    if isinstance(x, np.ma.MaskedArray) and np.ma.getmask(x) is not np.ma.nomask \
            and np.ma.getmask(x).any():
        hidden = int(np.ma.getmask(x).sum())
        raise BackendTypeError(
            f"{type(module).__name__} takes plain data; received a masked array with "
            f"{hidden} masked value{'s' if hidden > 1 else ''}, which a model cannot skip. "
            f"Fill them first, e.g. x.filled(0.0).", module=module)
    return np.asarray(x)


class LazyShapes:
    """Module's first call (bind, build) and ``initialize``."""

    __dict__: dict[str, Any]

    accepts_integer_input = False
    """Layers that take indices (embeddings) set this to accept integer input."""

    def build(self, *args: Any, **kwargs: Any) -> None:
        """Optional hook, called once with the first input, to create lazy parameters."""

    def _first_call(self, args: tuple, kwargs: dict) -> Any:
        # One binding/building at a time: threads sharing a fresh lazy model would
        # otherwise bind it twice or read half-made parameters. The fast path takes no lock.
        with _FIRST_CALL_LOCK:
            d = self.__dict__
            if not d["_ready"]:  # another thread may have finished it meanwhile
                try:
                    if d["_bound"] is None:
                        first = args[0] if args else first_tensor(kwargs.values())
                        kind = registry.adapter_of(first) if first is not None else None
                        if kind is None or kind.NAME == registry.REFERENCE:
                            bind_tree(self, selection.chosen_adapter(None), None)
                        else:
                            bind_tree(self, kind, kind.device_of(first))
                    args = self._adopt_numpy(args)
                    if not d["_built"]:
                        with d["_bound"].adapter.no_grad():
                            self.build(*args, **kwargs)
                        d["_built"] = True
                    d["_ready"] = True
                except Exception as err:
                    diagnose.explain(self, err, args)
                    raise
        return self(*args, **kwargs)

    def _adopt_numpy(self, args: tuple) -> tuple:
        """NumPy input is data: moved to the module's backend (see ``adopt_array``)."""
        # A NumPy scalar is data as the first input (np.float64(1.0)); elsewhere it may be
        # a count or a flag (range(n)), as a Python number would be, and passes as it is.
        return tuple(self.adopt_array(x, first=i == 0)
                     if isinstance(x, _ndarray) or (i == 0 and isinstance(x, np.generic))
                     else x for i, x in enumerate(args))

    def adopt_array(self, x: np.ndarray, first: bool = False) -> Any:
        """A NumPy array as input of this module's backend.

        An ndarray subclass (memmap, matrix, record array) is taken as ``np.asarray(x)``,
        and a NumPy scalar given as the first input (``np.float64(1.0)``) as a 0-d array;
        a masked array is refused if any value is masked (``np.asarray`` would pass the
        hidden values on).
        Floats are cast to the model's dtype; integer and bool arrays keep their dtype,
        except as the first input of a float layer, which refuses them (the same
        outcome the frameworks' own ops give).
        """
        bound = self.__dict__["_bound"]
        dtype = self.__dict__["_dtype"]
        if type(x) is not _ndarray:
            x = _plain_array(self, x)
        if x.dtype != dtype:
            kind = x.dtype.kind
            if kind == "f" or x.dtype.name == "bfloat16":
                x = x.astype(dtype)
            elif kind not in "biu":
                raise BackendTypeError(
                    f"{type(self).__name__} expects numeric input; received a NumPy array of "
                    f"dtype {x.dtype}.", module=self)
            elif first and not self.accepts_integer_input:
                raise BackendTypeError(
                    f"{type(self).__name__} expects float input; received a NumPy array of "
                    f"dtype {x.dtype}. Convert it with x.astype('{dtype}').", module=self)
        return bound.adapter.from_numpy(x, bound.device)

    def initialize(self, *inputs: Any, init: Any = None, force_reinit: bool = False) -> Any:
        """Gluon habit: sets initial values, and with ``inputs``, materialises lazy shapes.

        ``init`` applies to weights (parameters of 2 or more dimensions); a 1-D parameter
        keeps its own constant initializer (BatchNorm's and LayerNorm's scale: ones) or is
        set to zeros (biases), as Gluon does. ``init`` may also name a framework's
        default scheme, ``'torch'``, ``'keras'`` or ``'gluon'`` (see ``pm.init.Scheme``).
        It replaces values drawn by the default scheme; with ``force_reinit=True`` it
        replaces every value. Lazy parameters get ``init`` when their shape becomes
        known. With no arguments it only checks what is known (always accepted).

        Example:
            >>> import polymod as pm
            >>> net = pm.nn.LazyLinear(4)
            >>> _ = net.initialize(pm.rand(2, 3, backend="numpy"))
            >>> net.weight.shape
            (4, 3)
        """
        _init.initialize_module(self, init, force_reinit)
        if inputs:
            adapter = adapter_of_module(self) or registry.adapter_of(inputs[0])
            with adapter.no_grad():
                self(*inputs)
        return self
