"""Walking a module tree: children, submodules, and the handles they own.

The one walk of the tree. Children are found by walking the instance ``__dict__``
in assignment order (tinygrad's way), so modules kept in plain lists, tuples and
dicts are found too, named like PyTorch's containers (``layers.0``). The io, autograd,
optimizers and every native twin use ``named_handles`` (the documented internal
entry point) rather than module internals.

Traversal runs on every ``value_and_grad`` and optimizer step, so results are cached:
a module's children until its attributes change, a whole tree's handles until any
structural change anywhere (``structure_changed``). A plain attribute (``net.note =
1``) changes nothing and keeps every cache.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from ..errors import StateError

#: Attributes that hold polymod's own per-module state, never walked for children:
#: the handles, the binding record, the caches, and the containers' ordered storage.
NOT_WALKED = frozenset({"_params", "_bound", "_cache", "_container_items",
                        "_container_keys"})
_CONTAINERS = (list, tuple, dict)
KINDS_ALL = ("parameter", "buffer", "constant")

# Bumped by every structural change to any module: a cached traversal of a whole tree
# (``named_handles``) is valid while this is unchanged.
_version = [0]
_next_version = itertools.count(1).__next__  # atomic under the GIL


def structure_changed(module_dict: dict) -> None:
    """Drops a module's cached children and every tree's cached handles."""
    module_dict["_cache"].pop("children", None)
    _version[0] = _next_version()


def holds_modules(value: Any) -> bool:
    """Whether assigning ``value`` (or replacing it) changes a tree's structure."""
    if isinstance(value, Traversal):
        return True
    if type(value) in (list, tuple):
        return any(holds_modules(v) for v in value)
    if type(value) is dict:
        return any(holds_modules(v) for v in value.values())
    return False


def mutable(value: Any) -> bool:
    """Whether a container can change in place (a list or dict, also inside a tuple)."""
    kind = type(value)
    return kind is list or kind is dict or (kind is tuple and any(mutable(v) for v in value))


def walk_container(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    """Modules inside (nested) lists, tuples and dicts, named like PyTorch containers."""
    if isinstance(value, Traversal):
        yield prefix, value
    elif type(value) in (list, tuple):
        for index, item in enumerate(value):
            yield from walk_container(f"{prefix}.{index}", item)
    elif type(value) is dict:
        for key, item in value.items():
            yield from walk_container(f"{prefix}.{key}", item)


class Traversal:
    """Module's traversal methods, named and ordered like PyTorch's."""

    __dict__: dict[str, Any]

    def _children(self, remove_duplicate: bool = True) -> list[tuple[str, Any]]:
        # Cached until an attribute changes (never for a module holding a plain list or
        # dict: `self.layers.append(m)` changes its children without telling anyone).
        # remove_duplicate=False keeps every name of a module held twice (PyTorch's
        # state_dict keeps such aliases; polymod accepts them when loading).
        d = self.__dict__
        cache = d["_cache"]
        if remove_duplicate:
            cached = cache.get("children")
            if cached is not None:
                return cached
        found: list[tuple[str, Any]] = []
        seen: set[int] = set()
        cacheable = remove_duplicate
        for name, value in d.items():
            if isinstance(value, Traversal):
                if id(value) not in seen or not remove_duplicate:
                    seen.add(id(value))
                    found.append((name, value))
            elif type(value) in _CONTAINERS and name not in NOT_WALKED:
                cacheable = cacheable and not mutable(value)
                for child_name, child in walk_container(name, value):
                    child.__dict__["_held"] = True  # maybe appended in place (registration)
                    if id(child) not in seen or not remove_duplicate:
                        seen.add(id(child))
                        found.append((child_name, child))
        if cacheable:
            cache["children"] = found
        return found

    def named_children(self, remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        """Direct submodules with their names, in assignment order, each once (under every
        name it is held by with ``remove_duplicate=False``)."""
        return iter(self._children(remove_duplicate))

    def children(self) -> Iterator[Any]:
        """Direct submodules, in assignment order."""
        for _, child in self._children():
            yield child

    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        """This module and every submodule, with dotted paths, depth first in assignment
        order; a shared one appears once (under every path with ``remove_duplicate=False``).
        """
        memo = set() if memo is None else memo
        reached: set[int] = set()  # every path (remove_duplicate=False): the cycle check
        stack = [(prefix, self, 1)]
        while stack:  # depth-first, children in order: the order PyTorch's recursion gives
            path, module, depth = stack.pop()
            if remove_duplicate:
                if id(module) in memo:
                    continue
                memo.add(id(module))
            else:  # a path longer than the number of modules can only go round a cycle
                reached.add(id(module))
                if depth > len(reached):
                    raise StateError(f"{type(self).__name__} contains itself: the path "
                                     f"{path!r} goes round a cycle (a module was put inside "
                                     f"its own submodule, e.g. through a plain list).")
            yield path, module
            stack.extend((f"{path}.{name}" if path else name, child, depth + 1)
                         for name, child in reversed(module._children(remove_duplicate)))

    def modules(self) -> Iterator[Any]:
        """This module and every submodule, each once."""
        for _, module in self.named_modules():
            yield module

    def named_handles(self, kinds: tuple[str, ...] = KINDS_ALL, remove_duplicate: bool = True,
                      recurse: bool = True) -> list[tuple[str, Any]]:
        """``(dotted name, handle)`` of every handle of the given kinds in the tree.

        The internal entry point of io, autograd, optimizers and the native twins. With
        ``remove_duplicate=False`` a shared handle appears under every name that reaches
        it (what a PyTorch ``state_dict`` of a model with a shared module holds). The
        returned list is cached and shared: callers must not change it. With
        ``recurse=False``, this module's own handles, in registration order.
        """
        if not recurse:
            return [(name, handle) for name, handle in self.__dict__["_params"].items()
                    if handle.kind in kinds]
        if not remove_duplicate:
            return [(f"{prefix}.{name}" if prefix else name, handle)
                    for prefix, module in self.named_modules(remove_duplicate=False)
                    for name, handle in module.__dict__["_params"].items()
                    if handle.kind in kinds]
        cache = self.__dict__["_cache"]
        entry = cache.get("handles")
        if entry is None or entry[0] != _version[0]:
            entry = cache["handles"] = (_version[0], {})
        found = entry[1].get(kinds)
        if found is not None:
            return found
        found, seen, cacheable = [], set(), True
        for prefix, module in self.named_modules():
            cacheable = cacheable and "children" in module.__dict__["_cache"]
            for name, handle in module.__dict__["_params"].items():
                if handle.kind in kinds and id(handle) not in seen:
                    seen.add(id(handle))
                    found.append(((f"{prefix}.{name}" if prefix else name), handle))
        if cacheable:
            entry[1][kinds] = found
        return found

    def _named_of_kind(self, kind: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Any]]:
        found = self.named_handles((kind,), remove_duplicate, recurse)
        if not prefix:
            return iter(found)
        return ((f"{prefix}.{name}", handle) for name, handle in found)

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        """``(dotted name, pm.Parameter handle)`` pairs; names are the same on every backend.

        Example:
            >>> import polymod as pm
            >>> net = pm.nn.Sequential(pm.nn.Linear(20, 4), pm.nn.ReLU())
            >>> [name for name, p in net.named_parameters()]
            ['0.weight', '0.bias']
        """
        return self._named_of_kind("parameter", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Any]:
        """The parameter handles, each once."""
        for _, handle in self.named_parameters(recurse=recurse):
            yield handle

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        """``(dotted name, pm.Buffer)`` pairs."""
        return self._named_of_kind("buffer", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Any]:
        """The buffers, each once."""
        for _, handle in self.named_buffers(recurse=recurse):
            yield handle

    def named_constants(self, prefix: str = "", recurse: bool = True,
                        remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        """``(dotted name, pm.Constant)`` pairs."""
        return self._named_of_kind("constant", prefix, recurse, remove_duplicate)

    def constants(self, recurse: bool = True) -> Iterator[Any]:
        """The constants, each once."""
        for _, handle in self.named_constants(recurse=recurse):
            yield handle

    def get_submodule(self, target: str) -> Any:
        """The submodule at dotted path ``target`` (``''`` is the module itself)."""
        module = dict(self.named_modules(remove_duplicate=False)).get(target)
        if module is None:
            raise AttributeError(f"{type(self).__name__} has no submodule {target!r}.")
        return module

    def get_parameter(self, name: str) -> Any:
        """The handle of parameter, buffer or constant ``name`` (a dotted path), PyTorch habit.

        Example:
            >>> import polymod as pm
            >>> net = pm.nn.Sequential(pm.nn.Linear(2, 3))
            >>> p = net.get_parameter("0.weight")
            >>> p.assign(p.numpy() + 1)
        """
        prefix, _, leaf = name.rpartition(".")
        module = dict(self.named_modules(remove_duplicate=False)).get(prefix)
        handle = None if module is None else module.__dict__["_params"].get(leaf)
        if handle is None:
            raise AttributeError(f"{type(self).__name__} has no parameter, buffer or constant "
                                 f"named {name!r}.")
        return handle
