"""Small helpers under ``Module``'s registration: lazy-parameter slots, container checks,
and the refusal of framework objects that would not be registered."""

from __future__ import annotations

import itertools
from typing import Any

from . import registry
from .errors import BackendTypeError

# Bumped by every change to any module's attributes, children or parameters: a cached
# traversal of a whole tree (Module._named_handles) is valid while this is unchanged.
STRUCTURE_VERSION = [0]
_next_version = itertools.count(1).__next__  # atomic under the GIL


def structure_changed(module_dict: dict) -> None:
    """Drops a module's cached children and every cached traversal."""
    module_dict.pop("_pm_children", None)
    STRUCTURE_VERSION[0] = _next_version()


def first_tensor(values: Any) -> Any:
    """The first value that is a tensor of some backend (a keyword-only first call)."""
    for value in values:
        try:
            registry.adapter_of(value)
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


FOREIGN_MODULES = {"torch": "torch.nn.Module", "keras": "Keras layer",
                   "tensorflow": "Keras layer", "tf_keras": "Keras layer",
                   "mxnet": "Gluon block"}


def refuse_foreign(owner: Any, name: str, value: Any) -> None:
    """Refuses a framework layer or parameter as an attribute, with the fix; lets tensors pass."""
    what = FOREIGN_MODULES[type(value).__module__.partition(".")[0]]
    kind = type(value).__name__
    if kind.endswith(("Parameter", "Variable")):  # meant to be trained: say how
        raise BackendTypeError(
            f"Cannot assign a {type(value).__module__.partition('.')[0]} {kind} to "
            f"{name!r} of {type(owner).__name__}: it would not be registered, saved or "
            f"trained. Wrap the values: self.{name} = pm.Parameter(data) (or "
            f"pm.constant(data) for a fixed tensor).")
    if not any(hasattr(value, m) for m in ("forward", "call", "hybrid_forward")):
        return  # a tensor or other framework object: allowed as a plain attribute
    raise BackendTypeError(
        f"Cannot assign a {what} ({type(value).__qualname__}) to {name!r} of "
        f"{type(owner).__name__}: a polymod module can only hold polymod modules, which "
        f"run on every backend. Use the polymod layer instead (e.g. polymod.nn.Linear), "
        f"or keep the framework model outside and call it on pm.native(net)'s output.")
