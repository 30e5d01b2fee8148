"""Small helpers under ``Module``'s registration: lazy-parameter slots, container checks."""

from __future__ import annotations

from typing import Any

from . import backend as _backend
from .errors import BackendTypeError


def first_tensor(values: Any) -> Any:
    """The first value that is a tensor of some backend (a keyword-only first call)."""
    for value in values:
        try:
            _backend.adapter_of(value)
            return value
        except BackendTypeError:
            continue
    return None


def mutable(value: Any) -> bool:
    """Whether a container can change in place (a list or dict, also inside a tuple)."""
    kind = type(value)
    return kind is list or kind is dict or (kind is tuple and any(mutable(v) for v in value))


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
