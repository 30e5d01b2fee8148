"""``Module``: the one base class of every polymod layer and model.

Registration happens in ``__setattr__`` (PyTorch's way); traversal walks the
instance ``__dict__`` in assignment order (tinygrad's way), so modules kept in
plain lists, tuples and dicts are found too. Parameter values live in
``__dict__`` under their own names, so ``self.weight`` in ``forward`` is a
plain attribute read of the backend's native tensor.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar

import numpy as np

from . import diagnose as _diagnose
from . import registry, selection
from . import slots as _slots
from .errors import BackendTypeError, NameClashError, PolymodError, StateError
from .parameter import Buffer, Constant, Parameter
from .slots import FOREIGN_MODULES, LazySlot, first_tensor, mutable, refuse_foreign

T = TypeVar("T", bound="Module")
_ndarray = np.ndarray
_NOTHING = object()  # __call__ got no positional argument
# Re-entrant: a model's first call runs its children's first calls inside it.
_FIRST_CALL_LOCK = threading.RLock()


class LoadResult(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match (as in PyTorch)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


_CONTAINERS = (list, tuple, dict)


def _walk(prefix: str, value: Any) -> Iterator[tuple[str, Module]]:
    """Modules inside (nested) lists, tuples and dicts, named like PyTorch containers.

    Attributes named ``_pm_*`` are polymod's own caches (e.g. Sequential's list of
    layers) and are not walked.
    """
    if prefix.startswith("_pm_"):
        return
    if isinstance(value, Module):
        yield prefix, value
    elif type(value) in (list, tuple):
        for index, item in enumerate(value):
            yield from _walk(f"{prefix}.{index}", item)
    elif type(value) is dict:
        for key, item in value.items():
            yield from _walk(f"{prefix}.{key}", item)


class Module:
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

    def __init__(self) -> None:
        d = self.__dict__
        d["_params"] = {}  # name -> Parameter | Constant | Buffer, in registration order
        d["_adapter"] = None
        d["_device"] = None
        d["_dtype"] = np.dtype("float32")
        d["_built"] = type(self).build is Module.build
        d["_ready"] = False  # bound and built: __call__ takes its fast path
        d["training"] = True

    # -- the call -------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses define it with native operators and ``polymod.ops``."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, ...).")

    def build(self, *args: Any, **kwargs: Any) -> None:
        """Optional hook, called once with the first input, to create lazy parameters."""

    def __call__(self, x: Any = _NOTHING, /, *args: Any, **kwargs: Any) -> Any:
        # Hot path, one tensor and no keywords: bound to `x` and passed on, never packed.
        if self._ready and not (args or kwargs) and x is not _NOTHING and type(x) is not _ndarray:
            try:
                return self.forward(x)
            except Exception as err:
                _diagnose.explain(self, err, (x,))
                raise
        args = args if x is _NOTHING else (x, *args)
        if self._ready:
            if args and type(args[0]) is _ndarray:
                args = self._adopt_numpy(args)
            try:
                return self.forward(*args, **kwargs)
            except Exception as err:
                _diagnose.explain(self, err, args)
                raise
        return self._first_call(args, kwargs)

    def _first_call(self, args: tuple, kwargs: dict) -> Any:
        # One binding/building at a time: threads sharing a fresh lazy model would
        # otherwise bind it twice or read half-made parameters. The fast path takes no lock.
        with _FIRST_CALL_LOCK:
            if not self._ready:  # another thread may have finished it meanwhile
                try:
                    if self._adapter is None:
                        first = args[0] if args else first_tensor(kwargs.values())
                        kind = registry.adapter_of(first) if first is not None else None
                        if kind is None or kind.NAME == "numpy":
                            self._bind(selection.chosen_adapter(None), None)
                        else:
                            self._bind(kind, kind.device_of(first))
                    if args and type(args[0]) is _ndarray:
                        args = self._adopt_numpy(args)
                    if not self._built:
                        with self._adapter.no_grad():
                            self.build(*args, **kwargs)
                        self.__dict__["_built"] = True
                    self.__dict__["_ready"] = True
                except Exception as err:
                    _diagnose.explain(self, err, args)
                    raise
        return self(*args, **kwargs)

    def _adopt_numpy(self, args: tuple) -> tuple:
        """NumPy input is data: cast floats to the model's dtype, move them to the backend."""
        adopted = []
        for x in args:
            if type(x) is _ndarray:
                if x.dtype != self._dtype:
                    if x.dtype.kind != "f" and not self.accepts_integer_input:
                        raise BackendTypeError(
                            f"{type(self).__name__} expects float input; received a NumPy array "
                            f"of dtype {x.dtype}. Convert it with x.astype('{self._dtype}').",
                            module=self)
                    if x.dtype.kind == "f":
                        x = x.astype(self._dtype)
                x = self._adapter.from_numpy(x, self._device)
            adopted.append(x)
        return tuple(adopted)

    #: Layers that take indices (embeddings) set this to accept integer input.
    accepts_integer_input = False

    def check_input(self, *inputs: Any) -> PolymodError | None:
        """Hook for layers: after a failure, return an error explaining bad ``inputs``."""
        return None

    # -- registration ---------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        _slots.structure_changed(d)
        if "_params" not in d:
            raise StateError(f"{type(self).__name__}.__init__ must call super().__init__() "
                             f"before assigning attributes (received {name!r}).")
        if name in _PROTECTED and not name.startswith("_"):
            raise NameClashError(
                f"Attribute {name!r} of {type(self).__name__} would shadow the method "
                f"Module.{name}(); choose another name, e.g. 'layers' or '{name}_'.")
        params = d["_params"]
        if isinstance(value, Parameter):
            self._register(name, value)
            return
        if name in params:
            if value is None:
                self._unregister(name)
                d[name] = None
                return
            kind = params[name].kind
            raise BackendTypeError(
                f"Cannot assign a {type(value).__name__} to {kind} {name!r} of "
                f"{type(self).__name__}; assign a pm.Parameter, or change the values in place "
                f"with pm.init.*_ or {type(self).__name__}.named_parameters() handles' .assign().")
        if isinstance(value, Module):
            self._adopt_child(name, value)
        elif type(value).__module__.partition(".")[0] in FOREIGN_MODULES:
            refuse_foreign(self, name, value)
        elif type(value) in _CONTAINERS:
            for _, child in _walk(name, value):
                self._adopt_child(name, child, store=False)
        d[name] = value

    def __delattr__(self, name: str) -> None:
        _slots.structure_changed(self.__dict__)
        self._unregister(name)
        object.__delattr__(self, name)

    # No __getattr__ on purpose: it costs CPython's specialised reads (~15 ns a `self.weight`)
    # and hides a property's own AttributeError. Lazy parameters use slots.LazySlot instead.

    def _register(self, name: str, handle: Parameter) -> None:
        d = self.__dict__
        _slots.structure_changed(d)
        if name in d["_params"]:
            self._unregister(name)
        if handle.name is None:
            handle.name = name
        d["_params"][name] = handle
        handle._owners.append((self, name))
        if self._adapter is not None:
            handle.bind(self._adapter, self._device)
        if handle.materialized:
            d[name] = handle.current()
        else:
            d.pop(name, None)
            if not hasattr(type(self), name):
                setattr(type(self), name, LazySlot(name))

    def _unregister(self, name: str) -> None:
        handle = self.__dict__["_params"].pop(name, None)
        _slots.structure_changed(self.__dict__)
        if handle is not None:
            handle._owners[:] = [(o, n) for o, n in handle._owners if o is not self or n != name]

    def _adopt_child(self, name: str, child: Module, store: bool = True) -> None:
        _slots.structure_changed(self.__dict__)
        if child is self or any(m is self for m in child.modules()):
            raise StateError(f"Assigning {type(child).__name__} to {name!r} of "
                             f"{type(self).__name__} would make a cycle: the module contains "
                             f"itself.")
        if self._adapter is not None and child._adapter is not self._adapter:
            child._bind(self._adapter, self._device)
        if store:
            self.__dict__[name] = child

    def add_module(self, name: str, module: Module | None) -> None:
        """Registers ``module`` under ``name`` (any string, e.g. ``'0'``), PyTorch habit.

        Example:
            >>> import polymod as pm
            >>> net = pm.Module()
            >>> net.add_module("0", pm.nn.Linear(2, 3))
            >>> [name for name, _ in net.named_children()]
            ['0']
        """
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"A module name must be a non-empty string without dots; "
                             f"received {name!r}.")
        if module is not None and not isinstance(module, Module):
            if type(module).__module__.partition(".")[0] in FOREIGN_MODULES:
                refuse_foreign(self, name, module)  # names the framework, with a hint
            raise BackendTypeError(f"add_module expects a polymod Module; received "
                                   f"{type(module).__qualname__}.")
        if module is None:
            _slots.structure_changed(self.__dict__)
            self.__dict__[name] = None
            return
        self._adopt_child(name, module)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Registers a parameter under ``name`` (same as assigning the attribute)."""
        if param is None:
            self._unregister(name)
            self.__dict__[name] = None
            return
        if not isinstance(param, Parameter):
            raise BackendTypeError(f"register_parameter expects a pm.Parameter; received "
                                   f"{type(param).__qualname__}.")
        self._register(name, param)

    def register_constant(self, name: str, data: Any) -> None:
        """Registers a constant (non-trainable tensor that follows the module)."""
        self._register(name, data if isinstance(data, Constant) else Constant(data))

    def register_buffer(self, name: str, data: Any, dtype: Any = None) -> None:
        """Registers a buffer: non-trainable state that changes, always in ``state_dict``."""
        if isinstance(data, Buffer):
            self._register(name, data)
            return
        array = np.asarray(data if not hasattr(data, "shape") else
                           registry.adapter_of(data).to_numpy(data))
        self._register(name, Buffer(array, dtype=dtype or array.dtype))

    # -- traversal --------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct submodules with their names, in assignment order, each once."""
        return iter(self._children())

    def _children(self, remove_duplicate: bool = True) -> list[tuple[str, Module]]:
        # Traversal runs on every value_and_grad and optimizer step, so the list is cached
        # until an attribute changes (__setattr__, __delattr__, add_module and the
        # containers drop it). Not for a module holding a list or dict: a plain
        # `self.layers.append(m)` changes its children without telling anyone.
        # remove_duplicate=False keeps every name of a module held twice (PyTorch's
        # state_dict keeps such aliases; polymod accepts them when loading).
        d = self.__dict__
        cached = d.get("_pm_children")
        if cached is not None and remove_duplicate:
            return cached
        found: list[tuple[str, Module]] = []
        seen: set[int] = set()
        cacheable = remove_duplicate
        for name, value in d.items():
            if isinstance(value, Module):
                if id(value) not in seen or not remove_duplicate:
                    seen.add(id(value))
                    found.append((name, value))
            elif type(value) in _CONTAINERS and name != "_params" and name[:4] != "_pm_":
                cacheable = cacheable and not mutable(value)
                for child_name, child in _walk(name, value):
                    if id(child) not in seen or not remove_duplicate:
                        seen.add(id(child))
                        found.append((child_name, child))
        if cacheable:
            d["_pm_children"] = found
        return found


    def children(self) -> Iterator[Module]:
        """Direct submodules, in assignment order."""
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "", memo: set[int] | None = None
                      ) -> Iterator[tuple[str, Module]]:
        """This module and every submodule, with dotted paths; a shared one appears once."""
        memo = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:  # depth-first, children in order: the order PyTorch's recursion gives
            path, module = stack.pop()
            if id(module) in memo:
                continue
            memo.add(id(module))
            yield path, module
            stack.extend((f"{path}.{name}" if path else name, child)
                         for name, child in reversed(module._children()))

    def modules(self) -> Iterator[Module]:
        """This module and every submodule, each once."""
        for _, module in self.named_modules():
            yield module

    def _named_handles(self, kinds: tuple[str, ...]) -> list[tuple[str, Parameter]]:
        # Walked on every value_and_grad and optimizer step: cached until any module changes
        # (slots.STRUCTURE_VERSION), never while one holds a plain list or dict (see _children).
        cache = self.__dict__.get("_pm_handles")
        if cache is None or cache[0] != _slots.STRUCTURE_VERSION[0]:
            cache = self.__dict__["_pm_handles"] = (_slots.STRUCTURE_VERSION[0], {})
        if kinds in cache[1]:
            return cache[1][kinds]  # shared: callers must not change it
        found, seen, cacheable = [], set(), True
        for prefix, module in self.named_modules():
            cacheable = cacheable and "_pm_children" in module.__dict__
            for name, handle in module.__dict__["_params"].items():
                if handle.kind in kinds and id(handle) not in seen:
                    seen.add(id(handle))
                    found.append(((f"{prefix}.{name}" if prefix else name), handle))
        if cacheable:
            cache[1][kinds] = found
        return found

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, pm.Parameter handle)`` pairs; names are the same on every backend.

        Example:
            >>> import polymod as pm
            >>> net = pm.nn.Sequential(pm.nn.Linear(20, 4), pm.nn.ReLU())
            >>> [name for name, p in net.named_parameters()]
            ['0.weight', '0.bias']
        """
        return iter(self._named_handles(("parameter",)))

    def parameters(self) -> Iterator[Parameter]:
        """The parameter handles, each once."""
        for _, handle in self.named_parameters():
            yield handle

    def get_parameter(self, name: str) -> Parameter:
        """The handle of parameter, buffer or constant ``name`` (a dotted path), PyTorch habit.

        Example:
            >>> import polymod as pm
            >>> net = pm.nn.Sequential(pm.nn.Linear(2, 3))
            >>> p = net.get_parameter("0.weight")
            >>> p.assign(p.numpy() + 1)
        """
        prefix, _, leaf = name.rpartition(".")
        module = dict(self.named_modules()).get(prefix)
        handle = None if module is None else module.__dict__["_params"].get(leaf)
        if handle is None:
            raise AttributeError(f"{type(self).__name__} has no parameter, buffer or constant "
                                 f"named {name!r}.")
        return handle

    def named_constants(self) -> Iterator[tuple[str, Constant]]:
        """``(dotted name, pm.Constant)`` pairs."""
        return iter(self._named_handles(("constant",)))  # type: ignore[return-value]

    def constants(self) -> Iterator[Constant]:
        """The constants, each once."""
        for _, handle in self.named_constants():
            yield handle

    def named_buffers(self) -> Iterator[tuple[str, Buffer]]:
        """``(dotted name, pm.Buffer)`` pairs."""
        return iter(self._named_handles(("buffer",)))  # type: ignore[return-value]

    def buffers(self) -> Iterator[Buffer]:
        """The buffers, each once."""
        for _, handle in self.named_buffers():
            yield handle

    def state_dict(self, include_constants: bool = True) -> collections.OrderedDict:
        """An ordered dict of NumPy copies in the neutral (PyTorch) layout.

        Example:
            >>> import polymod as pm
            >>> list(pm.nn.Linear(3, 2).state_dict())
            ['weight', 'bias']
        """
        kinds = ("parameter", "buffer", "constant") if include_constants else (
            "parameter", "buffer")
        return collections.OrderedDict(
            (name, handle.numpy()) for name, handle in self._named_handles(kinds)
            if handle.materialized)

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> LoadResult:
        """Copies values into the model; checks everything first and changes nothing on error.

        Lazy parameters whose shape is not known yet take the shape of the data.

        Returns:
            ``(missing_keys, unexpected_keys)``, as PyTorch does.

        Raises:
            WeightsFileError: with ``strict``, any missing or unexpected key; always, a
                shape or dtype that does not fit. All problems are listed at once.
        """
        from .io import check_and_assign

        return check_and_assign(self, state_dict, strict, source="state_dict")

    # -- binding -----------------------------------------------------------------------------
    @property
    def backend(self) -> str | None:
        """The backend this module is bound to, or None before its first call / ``.to``."""
        return None if self._adapter is None else self._adapter.NAME

    def to(self: T, backend: str | None = None, device: Any = None) -> T:
        """The model on ``backend``: itself if it is already there or not yet bound (it
        binds), otherwise a copy with the same weights (this model is left untouched).

        Example:
            >>> import polymod as pm
            >>> net = pm.nn.Linear(2, 3)
            >>> net.to("numpy") is net
            True
        """
        adapter = selection.chosen_adapter(backend)
        if self._adapter is None:
            self._bind(adapter, device)
            return self
        if self._adapter is adapter:
            return self
        return self.unbound_copy()._bind(adapter, device)

    def _bind(self: T, adapter: Any, device: Any) -> T:
        named = list(self.named_modules())
        modules = [module for _, module in named]
        for path, module in named:
            if module._adapter is not None and module._adapter is not adapter:
                raise BackendTypeError(
                    f"Cannot bind {type(self).__name__} to {adapter.NAME!r}: its submodule "
                    f"'{path}' ({type(module).__name__}) is already bound to "
                    f"{module._adapter.NAME!r}. Use module.to({adapter.NAME!r}) to get a copy "
                    f"on the other backend.")
        for name, handle in self._named_handles(("parameter", "buffer", "constant")):
            handle.bind(adapter, device, path=name)
        for module in modules:
            d = module.__dict__
            d["_adapter"] = adapter
            d["_device"] = device
            d["_ready"] = d["_built"]
            module._on_bind(adapter)
        return self

    def _on_bind(self, adapter: Any) -> None:
        """Hook for layers that cache backend functions at binding time."""

    def __deepcopy__(self: T, memo: dict) -> T:
        """``copy.deepcopy(net)``: an independent copy on the same backend (PyTorch habit,
        e.g. for a target network or an EMA of the weights)."""
        twin = self.unbound_copy()
        return twin if self._adapter is None else twin._bind(self._adapter, self._device)

    def __getstate__(self) -> dict:
        if self._adapter is not None:
            raise StateError(
                f"Cannot pickle {type(self).__name__}: it is bound to {self._adapter.NAME!r} "
                f"and holds that framework's tensors. Save the weights with pm.save(net, "
                f"path) (or net.state_dict()), or pickle net.unbound_copy().")
        return self.__dict__

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__.pop("_pm_handles", None)  # another process's cache

    def unbound_copy(self: T) -> T:
        """A deep copy whose values are NumPy again (bound to no backend)."""
        from .copying import unbound_copy

        return unbound_copy(self)

    # -- modes and initialisation ----------------------------------------------------------
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

    def initialize(self: T, *inputs: Any, init: Any = None, force_reinit: bool = False) -> T:
        """Gluon habit: sets initial values, and with ``inputs``, materialises lazy shapes.

        ``init`` applies to weights (parameters of 2 or more dimensions); a 1-D parameter
        keeps its own constant initializer (BatchNorm's and LayerNorm's scale: ones) or is
        set to zeros (biases), as Gluon does. ``init`` may also name a framework's
        default scheme, ``'torch'``, ``'keras'`` or ``'gluon'`` (see ``pm.init.Scheme``). It replaces values drawn by
        the default scheme; with ``force_reinit=True`` it replaces every value. Lazy
        parameters get ``init`` when their shape becomes known. With no arguments it
        only checks what is known (always accepted).

        Example:
            >>> import polymod as pm
            >>> net = pm.nn.LazyLinear(4)
            >>> _ = net.initialize(pm.rand(2, 3, backend="numpy"))
            >>> net.weight.shape
            (4, 3)
        """
        from . import init as _init

        chosen = _init.get(init)
        if chosen is not None:
            rule = chosen if isinstance(chosen, _init.WeightsOnly) else _init.WeightsOnly(chosen)
            for _, module in self.named_modules():
                params = module.__dict__["_params"]
                weight = params.get("weight")
                fan_in = (_init.fans(weight.shape)[0] if weight is not None
                          and weight.materialized and len(weight.shape) >= 2 else None)
                for name, handle in params.items():
                    if handle.kind != "parameter":
                        continue
                    if not handle.materialized:
                        handle.init = rule
                    elif force_reinit or handle.default_init:
                        own = handle.made_with
                        fill = rule.resolve(handle.shape, own, fan_in if name == "bias" else None)
                        handle.assign(fill(handle.shape))
        if inputs:
            adapter = self._adapter or registry.adapter_of(inputs[0])
            with adapter.no_grad():
                self(*inputs)
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


_PROTECTED = frozenset(name for name, value in vars(Module).items()
                       if callable(value) or isinstance(value, property))
