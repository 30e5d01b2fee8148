"""``from_torch(..., leaves=...)``: polymod modules the user supplies for torch submodules
that cannot be traced (Python control flow on tensor values, calls into other libraries).

The trace stops at such a submodule (a ``torch.fx`` leaf, called like a layer); the
converted model calls the supplied polymod module there, with the torch submodule's
weights loaded into it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from polymod.errors import BackendTypeError, WeightsFileError
from polymod.module import Module

#: what ``leaves`` maps: a torch.nn.Module subclass or a dotted path -> a pm.Module, or a
#: callable building one from the torch submodule
Leaves = Mapping[Any, Any]


def resolve(root: torch.nn.Module, leaves: Leaves | None) -> dict[str, Any]:
    """``{dotted path: torch submodule}`` of every submodule ``leaves`` names: a path key
    names one; a class key every instance of it (the outermost, when they nest).

    Raises:
        BackendTypeError: a key that is neither a ``torch.nn.Module`` subclass nor a str.
        KeyError: a path that names no submodule.
    """
    if not leaves:
        return {}
    modules = dict(root.named_modules(remove_duplicate=False))
    found: dict[str, Any] = {}
    for key in leaves:
        if isinstance(key, str):
            if key not in modules:
                raise KeyError(f"from_torch(leaves=...): {key!r} names no submodule of "
                               f"{type(root).__name__}; its submodules are "
                               f"{sorted(p for p in modules if p)[:12]}...")
            found[key] = modules[key]
        elif isinstance(key, type) and issubclass(key, torch.nn.Module):
            for path, module in modules.items():
                if isinstance(module, key):
                    found[path] = module
        else:
            raise BackendTypeError(
                f"from_torch(leaves=...) keys are torch.nn.Module subclasses or dotted "
                f"submodule paths; received {key!r} ({type(key).__qualname__}).")
    outermost = {}
    for path in sorted(found, key=lambda p: (p.count(".") if p else -1, p)):
        if not any(_inside(path, other) for other in outermost):
            outermost[path] = found[path]
    return outermost


def _inside(path: str, parent: str) -> bool:
    return parent == "" or path.startswith(parent + ".")


def _replacement_for(leaves: Leaves, path: str, module: torch.nn.Module) -> Any:
    if path in leaves:
        return leaves[path]
    for key in type(module).__mro__:
        if key in leaves:
            return leaves[key]
    raise AssertionError(path)  # resolve() found it through one of these keys


def build(leaves: Leaves, path: str, module: torch.nn.Module) -> Module:
    """The polymod module for the torch submodule at ``path``, with its weights.

    Raises:
        BackendTypeError: the replacement is not a ``pm.Module`` (nor builds one).
        WeightsFileError: its parameter and buffer names differ from the torch
            submodule's ``state_dict`` keys, or a shape does not fit.
    """
    given = _replacement_for(leaves, path, module)
    where = f"from_torch(leaves=...) for {path or 'the model'!r} ({type(module).__name__})"
    replacement = given if isinstance(given, Module) else _call(given, module, where)
    if not isinstance(replacement, Module):
        raise BackendTypeError(f"{where}: expected a pm.Module or a callable returning one; "
                               f"received {type(replacement).__qualname__}.")
    load_weights(replacement, module, where)
    return replacement.train(module.training)


def _call(factory: Callable, module: torch.nn.Module, where: str) -> Any:
    if not callable(factory):
        raise BackendTypeError(f"{where}: expected a pm.Module or a callable returning one; "
                               f"received {type(factory).__qualname__}.")
    return factory(module)


def load_weights(replacement: Module, module: torch.nn.Module, where: str) -> None:
    """Loads the torch submodule's parameters and buffers into ``replacement`` (the names
    must be the same), and its non-persistent buffers and plain tensor attributes into
    the replacement's constants of the same names (those without one keep their value)."""
    torch_keys = list(module.state_dict())
    ours = [n for n, _ in replacement.named_parameters()] + [
        n for n, _ in replacement.named_buffers()]
    missing = [k for k in torch_keys if k not in ours]
    unexpected = [k for k in ours if k not in torch_keys]
    if missing or unexpected:
        raise WeightsFileError(
            f"{where}: the polymod module must have the torch submodule's state_dict names "
            f"(so the converted model loads the original's weights); torch has "
            f"{_few(missing)} that it lacks, it has {_few(unexpected)} that torch lacks.")
    tensors = _all_tensors(module)
    state = {k: tensors[k] for k in torch_keys}
    state.update({n: tensors[n] for n, _ in replacement.named_constants() if n in tensors})
    replacement.load_state_dict(state, strict=False)


def _few(names: list[str]) -> str:
    if not names:
        return "no names"
    shown = ", ".join(repr(n) for n in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def _all_tensors(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """Parameters, all buffers and plain tensor attributes, by dotted name, as NumPy."""
    found: dict[str, torch.Tensor] = dict(module.named_parameters(remove_duplicate=False))
    found.update(module.named_buffers(remove_duplicate=False))
    for prefix, sub in module.named_modules(remove_duplicate=False):
        for name, value in vars(sub).items():
            if isinstance(value, torch.Tensor):  # a plain attribute: not in _parameters
                found.setdefault(f"{prefix}.{name}" if prefix else name, value)
    return {k: v.detach().cpu().numpy().copy() for k, v in found.items()}
