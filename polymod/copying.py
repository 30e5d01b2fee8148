"""Copying a model with its values back in NumPy, bound to no backend (``Module.to``)."""

from __future__ import annotations

from typing import Any, TypeVar

from .module import Module

T = TypeVar("T", bound=Module)

# Per-binding state that a copy must not inherit: the cached children and handles, and a
# ``forward`` set on the instance by an instrument (compare's recorder, a torch twin's
# hook router) that belongs to the original.
_NOT_COPIED = frozenset({"_params", "_pm_children", "_pm_handles", "_pm_checked_handles",
                         "forward"})


def unbound_copy(root: T) -> T:
    """A deep copy of ``root``: same structure and sharing, NumPy copies of every value."""
    memo: dict[int, Any] = {}

    def copy_value(value: Any) -> Any:
        if isinstance(value, Module):
            return copy_module(value)
        if type(value) in (list, tuple):
            return type(value)(copy_value(v) for v in value)
        if type(value) is dict:
            return {k: copy_value(v) for k, v in value.items()}
        return value

    def copy_module(module: Module) -> Module:
        if id(module) in memo:
            return memo[id(module)]
        twin = object.__new__(type(module))
        memo[id(module)] = twin
        params = module._params
        d = twin.__dict__
        d.update({k: copy_value(v) for k, v in module.__dict__.items()
                  if k not in params and k not in _NOT_COPIED})
        d.update(_params={}, _adapter=None, _device=None, _ready=False)
        for name, handle in params.items():
            if id(handle) not in memo:
                memo[id(handle)] = handle.unbound_copy()
            twin._register(name, memo[id(handle)])
        return twin

    return copy_module(root)  # type: ignore[return-value]
