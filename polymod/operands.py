"""How the arguments of a ``polymod.ops`` function meet: the adapter that runs it, and
NumPy data joining a framework tensor's backend.

NumPy arrays (and ndarray subclasses, and NumPy scalars) are data, as model input
is: next to a framework tensor they go to its backend, so ``where(numpy_mask,
torch_x, torch_y)`` stays a torch op (and in its autograd graph), and numbers among
them take the dtype of the first float tensor (the first float array on the NumPy
backend): ``add(float32 tensor, float64 array)`` is float32 on every backend, where
TensorFlow would refuse the mix and torch or NumPy would give float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import registry, selection

_by_type = registry.adapter_by_type
_REFERENCE = registry.REFERENCE
_NUMPY = (np.ndarray, np.generic)
_SCALARS = (int, float, bool)  # np.float64 is a float: it stays a Python-like scalar


def adapter_of(x: Any) -> Any:
    """The adapter of tensor ``x``: a dict lookup on its type (resolved once per type)."""
    try:
        return _by_type[type(x)]
    except KeyError:
        return registry.adapter_of(x)


def dispatch(*args: Any) -> tuple[Any, tuple]:
    """The adapter of the first framework tensor argument, and the arguments on it.

    With only Python scalars, the first becomes a tensor of the default backend, so
    the result is that backend's native tensor (float32 for a float, as
    ``pm.asarray``).
    """
    found = None
    for x in args:
        if not isinstance(x, _SCALARS):
            adapter = adapter_of(x)
            if adapter.NAME != _REFERENCE:
                found = adapter
                break
            found = found or adapter
    if found is not None:
        if found.NAME != _REFERENCE and not any(isinstance(x, _NUMPY) for x in args):
            return found, args  # the common case: framework tensors (and scalars) only
        return found, joined(found, args)
    adapter = selection.chosen_adapter(None)
    first = args[0]
    array = np.asarray(first, np.float32) if type(first) is float else np.asarray(first)
    return adapter, (adapter.from_numpy(array),) + args[1:]


def joined(adapter: Any, args: tuple | list) -> tuple:
    """``args`` with their NumPy data on ``adapter``'s backend, numbers in the dtype of
    the first float tensor."""
    reference = adapter.NAME == _REFERENCE
    target = None
    for x in args:
        if not isinstance(x, _SCALARS) and (reference or not isinstance(x, _NUMPY)):
            dtype = adapter.dtype_of(x)
            if dtype.kind == "f":
                target = dtype
                break
    out = []
    for x in args:
        if isinstance(x, _NUMPY) and not isinstance(x, _SCALARS):
            x = np.asarray(x)
            if target is not None and x.dtype != target and x.dtype.kind in "iuf":
                x = x.astype(target)
            x = adapter.from_numpy(x)
        out.append(x)
    return tuple(out)


def on(adapter: Any, x: Any) -> Any:
    """NumPy data (a mask, indices) on ``adapter``'s backend, its dtype unchanged."""
    return adapter.from_numpy(np.asarray(x)) if isinstance(x, _NUMPY) else x
