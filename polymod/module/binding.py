"""Binding a module tree to a backend, and the per-binding state of each module.

A module is unbound (its handles hold NumPy data) until its first call or ``to()``;
binding moves every handle into the backend's storage and gives each module one
``Binding`` record: the adapter, the device, and the backend functions the layer
asked for (``Module.bound_functions``), read in ``forward`` as ``self._bound.linear``.
Everything that belongs to one binding lives in that record, so a copy, a pickle or
a walk drops it in one line.
"""

from __future__ import annotations

from typing import Any

from .. import registry
from ..errors import BackendTypeError, StateError
from .casting import check_backend_dtype


class Binding:
    """One module's per-binding state: ``adapter``, ``device`` and its cached functions."""

    def __init__(self, adapter: Any, device: Any, functions: dict[str, Any]):
        self.adapter = adapter
        self.device = device
        self.__dict__.update(functions)

    def __repr__(self) -> str:
        cached = sorted(k for k in self.__dict__ if k not in ("adapter", "device"))
        return f"Binding({self.adapter.NAME!r}, device={self.device!r}, functions={cached})"


def adapter_of_module(module: Any) -> Any:
    """The adapter a module is bound to, or None."""
    bound = module.__dict__["_bound"]
    return None if bound is None else bound.adapter


def ready_adapter(module: Any, caller: str) -> Any:
    """The adapter of a bound model whose parameter shapes are all known (what
    ``pm.native`` and ``pm.compile`` need); ``caller`` names the function in the error."""
    adapter = adapter_of_module(module)
    if adapter is None:
        choices = "|".join(repr(name) for name in registry.FRAMEWORKS)
        raise StateError(f"{caller} needs a model bound to a backend: call it once on a "
                         f"tensor of that framework, or use net.to({choices}).")
    lazy = [name for name, p in module.named_parameters() if not p.materialized]
    if lazy:
        raise StateError(f"{caller} needs every parameter shape; {lazy} are still lazy. "
                         f"Call the model once (net(X)) or net.initialize(X) first.")
    return adapter


def bind_tree(root: Any, adapter: Any, device: Any) -> Any:
    """Binds ``root`` and every submodule and handle under it to ``adapter``; returns root.

    Raises:
        BackendTypeError: a submodule is bound to another backend already.
    """
    named = list(root.named_modules())
    for path, module in named:
        other = adapter_of_module(module)
        if other is not None and other is not adapter:
            raise BackendTypeError(
                f"Cannot bind {type(root).__name__} to {adapter.NAME!r}: its submodule "
                f"'{path}' ({type(module).__name__}) is already bound to {other.NAME!r}. "
                f"Use module.to({adapter.NAME!r}) to get a copy on the other backend.")
    handles = root.named_handles()
    for dtype in {h.dtype for _, h in handles if h.dtype.name in ("float16", "bfloat16", "float64")}:
        check_backend_dtype(adapter, dtype, root)
    for name, handle in handles:
        handle.bind(adapter, device, path=name)
    for _, module in named:
        d = module.__dict__
        d["_bound"] = Binding(adapter, device, module.bound_functions(adapter))
        d["_ready"] = d["_built"]
    return root
