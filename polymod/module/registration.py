"""Registration through attribute assignment (PyTorch's way), with checks before anything
is registered: a refused assignment leaves the module as it was.

Parameter values live in ``__dict__`` under their own names, so ``self.weight`` in
``forward`` is a plain attribute read of the backend's native tensor; before a lazy
parameter has a value, reading it lands on a ``LazySlot`` and raises a clear error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import registry
from ..errors import BackendTypeError, NameClashError, StateError
from ..handles import Buffer, Constant, Handle, Parameter
from .binding import adapter_of_module
from .lazy import LazySlot
from .tree import Traversal, holds_modules, structure_changed, walk_container


def refuse_framework_object(owner: Any, name: str, value: Any) -> None:
    """Raises for a framework's layer, model or parameter given as an attribute or child.

    Such an object would not be registered, saved, moved by ``to()`` or trained. Decided
    from the classes' modules (``registry.framework_of``), so a user's subclass of a
    framework's module is refused too, and nothing is imported. Plain framework tensors
    pass (they are allowed as attributes).
    """
    spec = registry.framework_of(value)
    if spec is None:
        return
    kind = type(value).__name__  # not __qualname__: a class defined in a function
    if kind.endswith(("Parameter", "Variable")):  # meant to be trained: say how
        raise BackendTypeError(
            f"Cannot assign a {spec.name} {kind} to {name!r} of {type(owner).__name__}: it "
            f"would not be registered, saved or trained. Wrap the values: self.{name} = "
            f"pm.Parameter(data) (or pm.constant(data) for a fixed tensor).")
    if any(hasattr(value, m) for m in ("forward", "call", "hybrid_forward", "apply")):
        raise BackendTypeError(
            f"Cannot assign a {spec.name} model or layer ({kind}) to {name!r} of "
            f"{type(owner).__name__}: a polymod module can only hold polymod modules, which "
            f"run on every backend. Use the polymod layer instead (e.g. polymod.nn.Linear), or "
            f"keep the framework model outside and call it on the polymod model's output.")


def _refuse_framework_objects_in(owner: Any, name: str, value: Any) -> None:
    """``refuse_framework_object`` for everything inside (nested) lists, tuples, dicts."""
    if type(value) in (list, tuple):
        for index, item in enumerate(value):
            _refuse_framework_objects_in(owner, f"{name}.{index}", item)
    elif type(value) is dict:
        for key, item in value.items():
            _refuse_framework_objects_in(owner, f"{name}.{key}", item)
    elif not isinstance(value, Traversal):
        refuse_framework_object(owner, name, value)


class Registration:
    """Module's attribute assignment and its explicit ``add_module`` / ``register_*``."""

    __dict__: dict[str, Any]

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_params" not in d:
            raise StateError(f"{type(self).__name__}.__init__ must call super().__init__() "
                             f"before assigning attributes (received {name!r}).")
        if name in PROTECTED and not name.startswith("_"):
            raise NameClashError(
                f"Attribute {name!r} of {type(self).__name__} would shadow the method "
                f"Module.{name}(); choose another name, e.g. 'layers' or '{name}_'.")
        params = d["_params"]
        if isinstance(value, Handle):
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
        if isinstance(value, Traversal):
            self._adopt_child(name, value)
        else:
            if type(value) in (list, tuple, dict):
                _refuse_framework_objects_in(self, name, value)
                children = [child for _, child in walk_container(name, value)]
                for child in children:  # every check first, then bind
                    self._check_child(name, child)
                for child in children:
                    self._bind_child(child)
            else:
                refuse_framework_object(self, name, value)
            if type(value) in (list, tuple, dict) or holds_modules(d.get(name)):
                structure_changed(d)  # a container may hold modules now or later
            d[name] = value

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        if name in d["_params"] or holds_modules(d.get(name)):
            structure_changed(d)
        self._unregister(name)
        object.__delattr__(self, name)

    def _register(self, name: str, handle: Handle) -> None:
        d = self.__dict__
        adapter = adapter_of_module(self)
        if handle.adapter is not None and adapter is not None and handle.adapter is not adapter:
            raise BackendTypeError(
                f"Cannot register {type(handle).__name__} {handle.name!r} (on backend "
                f"{handle.adapter.NAME!r}) as {name!r} of {type(self).__name__}, which is "
                f"bound to {adapter.NAME!r}. Assign pm.Parameter(handle.numpy()) instead.")
        if handle.adapter is not None and adapter is None:
            raise BackendTypeError(
                f"Cannot register {type(handle).__name__} {handle.name!r} (bound to "
                f"{handle.adapter.NAME!r}) as {name!r} of the unbound "
                f"{type(self).__name__}. Assign pm.Parameter(handle.numpy()) instead.")
        structure_changed(d)
        if name in d["_params"]:
            self._unregister(name)
        if handle.name is None:
            handle.name = name
        d["_params"][name] = handle
        handle._owners.append((self, name))
        if adapter is not None:
            handle.bind(adapter, d["_bound"].device)
        if handle.materialized:
            d[name] = handle.current()
        else:
            d.pop(name, None)
            if not hasattr(type(self), name):
                setattr(type(self), name, LazySlot(name))

    def _unregister(self, name: str) -> None:
        d = self.__dict__
        handle = d["_params"].pop(name, None)
        if handle is not None:
            structure_changed(d)
            handle._owners[:] = [(o, n) for o, n in handle._owners if o is not self or n != name]

    def _check_child(self, name: str, child: Any) -> None:
        # Only a module that some module holds can be inside `child` (a cycle): a fresh
        # one (`Sequential(Sequential(...))`, built inside out) needs no walk, so deep
        # nesting builds in linear time. Every way of holding a module marks it `_held`
        # (in-place appends to a plain list: at the next traversal).
        if child is self or (self.__dict__.get("_held") and
                             any(m is self for m in child.modules())):
            raise StateError(f"Assigning {type(child).__name__} to {name!r} of "
                             f"{type(self).__name__} would make a cycle: the module contains "
                             f"itself.")
        mine, theirs = adapter_of_module(self), adapter_of_module(child)
        if mine is not None and theirs is not None and mine is not theirs:
            raise BackendTypeError(
                f"Cannot assign {type(child).__name__} (bound to {theirs.NAME!r}) to {name!r} "
                f"of {type(self).__name__} (bound to {mine.NAME!r}). Use "
                f"child.to({mine.NAME!r}) to get a copy on this backend.")

    def _bind_child(self, child: Any) -> None:
        child.__dict__["_held"] = True
        adapter = adapter_of_module(self)
        if adapter is not None and adapter_of_module(child) is not adapter:
            from .binding import bind_tree

            bind_tree(child, adapter, self.__dict__["_bound"].device)

    def _adopt_child(self, name: str, child: Any, store: bool = True) -> None:
        self._check_child(name, child)
        self._bind_child(child)
        structure_changed(self.__dict__)
        if store:
            self.__dict__[name] = child

    def add_module(self, name: str, module: Any) -> None:
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
        if module is None:
            structure_changed(self.__dict__)
            self.__dict__[name] = None
            return
        if not isinstance(module, Traversal):
            refuse_framework_object(self, name, module)  # names the framework, with a hint
            raise BackendTypeError(f"add_module expects a polymod Module; received "
                                   f"{type(module).__qualname__}.")
        self._adopt_child(name, module)

    register_module = add_module

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Registers a parameter under ``name`` (same as assigning the attribute)."""
        if param is None:
            self._unregister(name)
            self.__dict__[name] = None
            return
        if not isinstance(param, Parameter):
            raise BackendTypeError(f"register_parameter expects a pm.Parameter; received "
                                   f"{type(param).__qualname__}. Use register_buffer or "
                                   f"register_constant for the other kinds.")
        self._register(name, param)

    def register_constant(self, name: str, data: Any) -> None:
        """Registers a constant (non-trainable tensor that follows the module)."""
        if isinstance(data, Handle) and not isinstance(data, Constant):
            raise BackendTypeError(f"register_constant expects data or a pm.Constant; "
                                   f"received a {type(data).__name__}.")
        self._register(name, data if isinstance(data, Constant) else Constant(data))

    def register_buffer(self, name: str, data: Any, dtype: Any = None) -> None:
        """Registers a buffer: non-trainable state that changes, always in ``state_dict``."""
        if isinstance(data, Handle):
            if not isinstance(data, Buffer):
                raise BackendTypeError(f"register_buffer expects data or a pm.Buffer; "
                                       f"received a {type(data).__name__}.")
            self._register(name, data)
            return
        array = np.asarray(data if not hasattr(data, "shape") else
                           registry.adapter_of(data).to_numpy(data))
        self._register(name, Buffer(array, dtype=dtype or array.dtype))


# Names of Module's methods and properties: an attribute may not hide one. Filled by
# module/core.py once the class exists.
PROTECTED: frozenset[str] = frozenset()
