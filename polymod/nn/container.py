"""Containers: Sequential, Parallel, ModuleList, ModuleDict and ``repeat``.

Children are stored under the names ``"0"``, ``"1"``, ... (PyTorch's), so
parameter names read ``0.weight``, ``net.2.bias`` on every backend.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..errors import BackendTypeError, NameClashError
from ..module import Module
from ..module.tree import structure_changed


def _check_module(value: Any, where: str) -> Module:
    if not isinstance(value, Module):
        raise BackendTypeError(f"{where} expects polymod Modules; received "
                               f"{type(value).__module__}.{type(value).__qualname__}.")
    return value


class ModuleList(Module):
    """A list of modules, registered under ``"0"``, ``"1"``, ... (as PyTorch's).

    Example:
        >>> import polymod as pm
        >>> layers = pm.nn.ModuleList([pm.nn.Linear(2, 2) for _ in range(3)])
        >>> len(layers), [n for n, _ in layers.named_parameters()][:2]
        (3, ['0.weight', '0.bias'])
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        self.__dict__["_container_items"] = []
        if modules is not None:
            self.extend(modules)

    def _relabel(self, items: list[Module]) -> None:
        d = self.__dict__
        for key in [k for k in d if k.isdigit()]:
            del d[key]
        structure_changed(d)
        d["_container_items"] = []
        for module in items:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        """Adds ``module`` at the end."""
        _check_module(module, type(self).__name__)
        self._adopt_child(str(len(self._container_items)), module)
        self._container_items.append(module)
        self._changed()
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Adds every module of ``modules`` at the end."""
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Inserts ``module`` before position ``index``."""
        items = list(self._container_items)
        items.insert(index, _check_module(module, type(self).__name__))
        self._relabel(items)

    def _changed(self) -> None:
        """Hook for subclasses that cache their children."""

    def __len__(self) -> int:
        return len(self._container_items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._container_items)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return type(self)(self._container_items[index])
        return self._container_items[index]

    def __setitem__(self, index: int, module: Module) -> None:
        items = list(self._container_items)
        items[index] = _check_module(module, type(self).__name__)
        self._relabel(items)

    def __delitem__(self, index: int | slice) -> None:
        items = list(self._container_items)
        del items[index]
        self._relabel(items)

    def pop(self, index: int = -1) -> Module:
        """Removes and returns the module at ``index`` (the last by default); the ones
        after it are renumbered, as in PyTorch."""
        module = self._container_items[index]
        del self[index]
        return module


class Sequential(ModuleList):
    """Runs its modules in order, each on the output of the one before.

    ``Sequential(*modules)`` (PyTorch), ``.add(*modules)`` (Gluon/Keras), ``append``,
    ``len``, ``net[i]``, ``net[a:b]`` (a Sequential) and iteration.

    Example:
        >>> import polymod as pm
        >>> from polymod import nn
        >>> net = nn.Sequential()
        >>> net.add(nn.Dense(256, activation="relu"), nn.Dense(10))
        >>> net(pm.rand(2, 20, backend="numpy")).shape
        (2, 10)
    """

    def __init__(self, *modules: Module | OrderedDict):
        Module.__init__(self)
        self.__dict__["_container_items"] = []
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
                self._container_items.append(module)
        else:
            self.extend(modules)

    def add(self, *modules: Module) -> None:
        """Appends one or more modules (Gluon and Keras habit)."""
        self.extend(modules)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):  # a Sequential of the same modules (PyTorch habit)
            return Sequential(*self._container_items[index])
        return self._container_items[index]

    def forward(self, X: Any) -> Any:
        # A ready child gets its input straight from the previous layer, already a native
        # tensor, so its __call__ would only add a frame: call forward directly. A failure
        # is still explained, with the child's path, by this Sequential's __call__ (the
        # culprit is found from the traceback).
        for module in self._container_items:
            X = module.forward(X) if module._ready else module(X)
        return X


class Parallel(Module):
    """Runs every module on the same input and concatenates the outputs along ``dim``.

    Example:
        >>> import polymod as pm
        >>> from polymod import nn
        >>> net = nn.Parallel(nn.Linear(4, 2), nn.Linear(4, 3))
        >>> net(pm.rand(5, 4, backend="numpy")).shape
        (5, 5)
    """

    def __init__(self, *modules: Module, dim: int = -1):
        super().__init__()
        if not modules:
            raise ValueError("Parallel needs at least one module; received none.")
        for index, module in enumerate(modules):
            self._adopt_child(str(index), _check_module(module, "Parallel"))
        self.__dict__["_container_items"] = list(modules)
        self.dim = dim

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"concat": adapter.concat}

    def forward(self, X: Any) -> Any:
        return self._bound.concat([module(X) for module in self._container_items], self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class ModuleDict(Module):
    """A dict of modules; keys become parameter-name parts (``blocks.encoder.weight``).

    Example:
        >>> import polymod as pm
        >>> d = pm.nn.ModuleDict({"encoder": pm.nn.Linear(2, 2)})
        >>> list(d.keys())
        ['encoder']
    """

    def __init__(self, modules: dict[str, Module] | None = None):
        super().__init__()
        self.__dict__["_container_keys"] = []
        for key, module in (modules or {}).items():
            self[key] = module

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise ValueError(f"ModuleDict keys must be non-empty strings without dots; "
                             f"received {key!r}.")
        if key in self.__dict__ and key not in self._container_keys or hasattr(type(self), key):
            raise NameClashError(f"ModuleDict key {key!r} clashes with an attribute of "
                             f"ModuleDict; choose another key.")
        _check_module(module, "ModuleDict")
        self._adopt_child(key, module)
        if key not in self._container_keys:
            self._container_keys.append(key)

    def __getitem__(self, key: str) -> Module:
        if key not in self._container_keys:
            raise KeyError(key)
        return self.__dict__[key]

    def __delitem__(self, key: str) -> None:
        if key not in self._container_keys:
            raise KeyError(key)
        self._container_keys.remove(key)
        del self.__dict__[key]
        structure_changed(self.__dict__)

    def pop(self, key: str) -> Module:
        """Removes and returns the module under ``key``."""
        module = self[key]
        del self[key]
        return module

    def update(self, modules: dict[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Adds or replaces modules from a mapping or from ``(key, module)`` pairs."""
        pairs = modules.items() if isinstance(modules, dict) else modules
        for key, module in pairs:
            self[key] = module

    def clear(self) -> None:
        """Removes every module."""
        for key in list(self._container_keys):
            del self[key]

    def __contains__(self, key: object) -> bool:
        return key in self._container_keys

    def __len__(self) -> int:
        return len(self._container_keys)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._container_keys))

    def keys(self) -> list[str]:
        """The keys, in insertion order."""
        return list(self._container_keys)

    def values(self) -> list[Module]:
        """The modules, in insertion order."""
        return [self.__dict__[k] for k in self._container_keys]

    def items(self) -> list[tuple[str, Module]]:
        """``(key, module)`` pairs, in insertion order."""
        return [(k, self.__dict__[k]) for k in self._container_keys]


def repeat(factory: Callable[[], Module], n: int) -> Sequential:
    """A ``Sequential`` of ``n`` fresh instances made by calling ``factory()`` n times.

    Example:
        >>> import polymod as pm
        >>> from polymod import nn
        >>> net = nn.repeat(lambda: nn.Sequential(nn.LazyLinear(8), nn.ReLU()), 3)
        >>> len(net), net(pm.rand(2, 4, backend="numpy")).shape
        (3, (2, 8))
    """
    if isinstance(factory, Module) or not callable(factory):
        raise BackendTypeError(f"repeat expects a zero-argument callable returning a Module; "
                               f"received {type(factory).__qualname__}.")
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"repeat expects n to be a non-negative int; received n={n!r}.")
    modules = []
    for _ in range(n):
        module = factory()
        if not isinstance(module, Module):
            raise BackendTypeError(f"repeat's factory must return a polymod Module; it "
                                   f"returned {type(module).__qualname__}.")
        if any(module is m for m in modules):
            raise ValueError("repeat's factory returned the same module twice; it must make a "
                             "fresh instance on every call (e.g. lambda: nn.Linear(8, 8)).")
        modules.append(module)
    return Sequential(*modules)
