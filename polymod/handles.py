"""Handles: one neutral object per tensor a module owns, the same on every backend.

Three kinds, siblings under ``Handle``: a ``Parameter`` is trained, a ``Buffer`` is
state that changes but is not trained (BatchNorm's running statistics), a ``Constant``
never changes. A handle holds NumPy data until its module binds to a backend; from
then on it holds the framework's own objects: ``native`` (``torch.nn.Parameter``,
``keras.Variable``, ``gluon.Parameter``) and ``value`` (the tensor ``forward`` reads).
Modules keep ``value`` in their ``__dict__`` under the attribute's name, so reading
``self.weight`` costs one dict lookup; the handle re-points those attributes
(``publish``) whenever its value object changes.

The life of a parameter: created with data, a shape and an initializer, or lazily
(no shape: ``materialize`` later, from the first input); drawn in NumPy from
polymod's seeded generator; handed to the adapter when its module binds
(``create_parameter``, which may keep the array as storage); written in place by
``assign`` (an immutable framework's adapter returns a new array instead, and the
handle re-points itself); read back with ``numpy()`` for ``state_dict`` and files.
"""

from __future__ import annotations

import contextvars
import weakref
from typing import Any

import numpy as np

from . import initializers as _init
from . import registry
from .errors import BackendTypeError, ShapeError, UninitializedParameterError

# id(current value) -> weak handle, so that pm.init.*_ given an attribute (``layer.weight``)
# finds its handle.
_by_value: dict[int, weakref.ref] = {}


def handle_of(x: Any) -> Handle | None:
    """The handle whose current value (what the attribute reads) is ``x``, if any."""
    ref = _by_value.get(id(x))
    handle = ref() if ref is not None else None
    return handle if handle is not None and handle.current() is x else None


def _owner(data: Any) -> Any:
    """The adapter of a tensor (symbolic ones inside a traced graph too), or None."""
    try:
        return registry.adapter_of(data)
    except BackendTypeError:
        return None


def _forget(key: int, ref: weakref.ref) -> None:
    if _by_value.get(key) is ref:
        del _by_value[key]


#: While set (``polymod.functional``), ``replace_value`` appends ``(handle, old value)``:
#: how a call learns which buffers a model wrote into immutable arrays, and undoes it.
REBINDS: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "polymod_rebinds", default=None)


class Handle:
    """Base class of ``Parameter``, ``Buffer`` and ``Constant`` (use those)."""

    kind = "handle"

    def __init__(self, data: Any = None, *, shape: Any = None, init: Any = None,
                 dtype: Any = "float32"):
        self.name: str | None = None  # the attribute name; ``path`` once bound
        self.path: str | None = None  # dotted name in the model that bound it
        self.dtype = np.dtype(dtype)
        self.init = _init.get(init)
        self.native: Any = None
        self.value: Any = None
        self.adapter: Any = None
        self._trainable = False
        self._data: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None
        self._owners: list[tuple[Any, str]] = []  # (module, attribute) pairs reading `value`
        self._device: Any = None
        self._owned = False  # whether _data is referenced only by this handle (see bind)
        # True while the values are the ones drawn by the default scheme, so that
        # Module.initialize(init=...) may replace them (Gluon's deferred-init habit).
        self.default_init = False
        self.made_with: Any = None  # the initializer that drew the values, if any
        if data is not None:
            if shape is not None:
                raise ValueError(f"Give a {type(self).__name__} either data or shape, not both.")
            self._set_data(self._as_array(data))
        elif shape is not None:
            self.materialize(shape)

    # -- state -----------------------------------------------------------------------
    @property
    def materialized(self) -> bool:
        """Whether the shape (and so the values) are known."""
        return self._shape is not None

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape in the neutral (PyTorch) layout."""
        if self._shape is None:
            raise self._uninitialized()
        return self._shape

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape))

    def numel(self) -> int:
        """Number of elements (PyTorch habit)."""
        return self.size

    @property
    def trainable(self) -> bool:
        """Whether gradients and optimizers update it (only parameters are trainable)."""
        return False

    def materialize(self, shape: Any, default: Any = None) -> None:
        """Gives a lazy handle its shape and initial values (no-op if already that shape).

        The values come from the handle's own ``init`` if it has one, else from
        ``default``, else from the default scheme's weight initializer.
        """
        shape = tuple(int(n) for n in shape)
        if self._shape is not None:
            if self._shape != shape:
                raise ShapeError(f"{type(self).__name__} {self.name!r} already has shape "
                                 f"{self._shape}; received a request for shape {shape}.")
            return
        default = _init.get(default)
        init = self.init or default or _init.default_weight()
        if isinstance(init, _init.WeightsOnly):  # Module.initialize(init=...) on a lazy one
            fan_in = getattr(default, "fan_in", None)  # a bias's default knows its fan-in
            init = init.resolve(shape, default, fan_in)
        self.made_with = init
        self.default_init = getattr(init, "is_default", False)
        self._set_data(np.asarray(init(shape)).astype(self.dtype, copy=False))

    def _as_array(self, data: Any) -> np.ndarray:
        try:
            array = registry.adapter_of(data).to_numpy(data)
        except BackendTypeError:
            array = np.asarray(data)
        if array.dtype.kind not in "biuf" and array.dtype.name != "bfloat16":
            raise BackendTypeError(f"Expected numeric data for a {type(self).__name__}; "
                                   f"received dtype {array.dtype}.")
        return np.array(array, dtype=self.dtype)

    def _set_data(self, array: np.ndarray) -> None:
        self._shape = tuple(array.shape)
        if self.adapter is None:
            self._data = array
        else:
            self._create_native(self.adapter, array, self._device)
        self.publish()

    # -- binding ------------------------------------------------------------------------
    def bind(self, adapter: Any, device: Any = None, path: str | None = None) -> None:
        """Moves the data into ``adapter``'s storage (done by ``Module.to``)."""
        if self.adapter is adapter:
            return
        if self.adapter is not None:
            raise BackendTypeError(f"{type(self).__name__} {self.name!r} is on backend "
                                   f"{self.adapter.NAME!r}; it cannot also live on "
                                   f"{adapter.NAME!r}.")
        self.adapter = adapter
        self._device = device
        self.path = path or self.name
        if self._data is not None:
            # The adapter takes the array it is given as its own storage where it can
            # (no copy): give it a copy unless nothing outside this handle has seen it.
            array = self._data if self._owned else self._data.copy()
            self._create_native(adapter, array, device)
            self._data = None
            self.publish()

    def _create_native(self, adapter: Any, array: np.ndarray, device: Any) -> None:
        self.native = self.value = adapter.create_constant(array, device)

    def make_lazy(self) -> None:
        """Forgets the shape and values again (undoes a failed load's materialisation):
        reading the attribute raises ``UninitializedParameterError`` as before."""
        self._shape = self._data = self.native = self.value = None
        for owner, attr in self._owners:
            owner.__dict__.pop(attr, None)

    def replace_value(self, value: Any) -> None:
        """Points the handle (and its modules' attributes) at a new native tensor.

        For a framework that replaced a parameter's storage itself (Gluon's
        ``initialize(force_reinit=True)``), for frameworks whose arrays are
        immutable (their ``assign`` returns the new array), and for
        ``pm.functional_call``, which swaps values in and back.
        """
        old = self.current()
        if old is not None and old is not value:  # drop the old array's entry (no leak
            ref = _by_value.get(id(old))            # when each step makes new arrays)
            if ref is not None and ref() is self:
                del _by_value[id(old)]
        if self.native is self.value:  # no parameter object apart from the array (JAX)
            self.native = value
        self.value = value
        self.publish()
        log = REBINDS.get()
        if log is not None:
            log.append((self, old))

    def publish(self) -> None:
        """Makes every owning module's attribute read the current value."""
        current = self.current()
        if current is not None:
            key = id(current)
            _by_value[key] = weakref.ref(self, lambda ref, key=key: _forget(key, ref))
        for owner, attr in self._owners:
            owner.__dict__[attr] = current

    def current(self) -> Any:
        """What reading the attribute gives: the native tensor, or NumPy data before binding."""
        return self.value if self.adapter is not None else self._data

    def unbound_copy(self) -> Handle:
        """A fresh handle with a NumPy copy of the values, bound to nothing."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.native = twin.value = twin.adapter = None
        twin._owners = []
        twin._data = self.numpy() if self.materialized else None
        twin._owned = True  # a fresh copy nobody else holds: binding may keep it as storage
        return twin

    # -- reading and writing -------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A NumPy copy of the values, in the neutral layout."""
        if self._shape is None:
            raise self._uninitialized()
        if self.adapter is None:
            return self._data.copy()
        out = self.adapter.to_numpy(self.value)
        # a framework without 64-bit types (JAX with x64 off) keeps int64 as int32
        return out if out.dtype == self.dtype else out.astype(self.dtype)

    def assign(self, data: Any) -> None:
        """Overwrites the values (same shape): NumPy data, a list, or any backend's tensor.

        A tensor of the bound backend is written as it is (no round trip through NumPy),
        in place where the framework allows it.
        """
        adapter = self.adapter
        if adapter is not None and self._shape is not None and _owner(data) is adapter:
            if tuple(adapter.shape(data)) != self._shape:
                raise self._shape_error(tuple(adapter.shape(data)))
            if adapter.dtype_of(data) != self.dtype:
                data = adapter.astype(data, self.dtype)
            self.default_init = False
            self._write(data)
            return
        array = self._as_array(data)
        self.default_init = False
        if self._shape is None:
            self._set_data(array)
            return
        if array.shape != self._shape:
            raise self._shape_error(array.shape)
        if adapter is None:
            self._data[...] = array
        else:
            self._write(array)

    def _write(self, data: Any) -> None:
        replaced = self.adapter.assign(self.value, data)
        if replaced is not None:  # a framework with immutable arrays
            self.replace_value(replaced)

    def _shape_error(self, shape: tuple) -> ShapeError:
        return ShapeError(f"{type(self).__name__} {self.name!r} has shape {self._shape}; "
                          f"received data of shape {shape}.")

    def _uninitialized(self) -> UninitializedParameterError:
        return UninitializedParameterError(
            f"{type(self).__name__} {self.name!r} is not initialised yet: its shape is "
            f"inferred from the first input. Call the model once (net(X)) or "
            f"net.initialize(X) first.")

    def __repr__(self) -> str:
        shape = self._shape if self._shape is not None else "<lazy>"
        where = self.adapter.NAME if self.adapter is not None else "unbound"
        return (f"{type(self).__name__}(name={self.name!r}, shape={shape}, "
                f"dtype={self.dtype}, backend={where}{self._repr_extra()})")

    def _repr_extra(self) -> str:
        return ""


class Parameter(Handle):
    """A trainable tensor of a module, the same on every backend.

    Args:
        data: initial values (NumPy array, list, or any backend's tensor).
        shape: shape to initialise with ``init`` instead of ``data``. Leave both
            out for a lazy parameter whose shape is set later by ``materialize``.
        init: initializer or name, used with ``shape``.
        dtype: storage dtype (float32 by default).
        trainable: whether gradients and optimizers update it.

    Example:
        >>> import polymod as pm
        >>> p = pm.Parameter(shape=(2, 3), init="ones")
        >>> p.shape, float(p.numpy().sum())
        ((2, 3), 6.0)
    """

    kind = "parameter"

    def __init__(self, data: Any = None, *, shape: Any = None, init: Any = None,
                 dtype: Any = "float32", trainable: bool = True):
        super().__init__(data, shape=shape, init=init, dtype=dtype)
        self._trainable = bool(trainable)

    @property
    def trainable(self) -> bool:
        """Whether gradients and optimizers update this parameter (settable to freeze it).

        Once bound, the framework's own flag is the truth, so freezing with its API
        (``requires_grad_(False)``, ``variable.trainable = False``, ``grad_req =
        'null'``) is honoured too.
        """
        if self.adapter is not None:
            return self.adapter.is_trainable(self.native, self._trainable)
        return self._trainable

    @trainable.setter
    def trainable(self, flag: bool) -> None:
        self._trainable = bool(flag)
        if self.adapter is not None:
            self.adapter.set_trainable(self.native, self._trainable)

    def _create_native(self, adapter: Any, array: np.ndarray, device: Any) -> None:
        self.native, self.value = adapter.create_parameter(
            array, self.path or self.name or "param", self._trainable, device)

    def _repr_extra(self) -> str:
        return "" if self._trainable else ", trainable=False"


class Buffer(Handle):
    """Non-trainable state that changes (e.g. running statistics); always in ``state_dict``.

    Example:
        >>> import numpy as np, polymod as pm
        >>> pm.Buffer(np.zeros(3)).kind
        'buffer'
    """

    kind = "buffer"

    def _create_native(self, adapter: Any, array: np.ndarray, device: Any) -> None:
        # mutable in place (a Keras variable, not a tf.Tensor)
        self.native = self.value = adapter.create_buffer(array, device)


class Constant(Handle):
    """A non-trainable tensor that follows its module to the backend (never gets gradients).

    Example:
        >>> import polymod as pm
        >>> pm.Constant([1.0, 2.0]).shape
        (2,)
    """

    kind = "constant"


def constant(data: Any, dtype: Any = "float32") -> Constant:
    """Wraps data as a module constant: assign it to an attribute inside ``__init__``.

    Example:
        >>> import polymod as pm
        >>> class Scaled(pm.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.c = pm.constant([2.0])
        ...     def forward(self, X):
        ...         return X * self.c
        >>> Scaled()(pm.ones(2, backend="numpy"))
        array([2., 2.], dtype=float32)
    """
    return Constant(data, dtype=dtype)
