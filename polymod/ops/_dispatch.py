"""How an op finds its adapter: a dict lookup on ``type(x)`` (shared by every op group)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import registry, selection
from ..errors import BackendTypeError

_by_type = registry.adapter_by_type
_REFERENCE = registry.REFERENCE


def of(x: Any) -> Any:
    """The adapter owning tensor ``x``."""
    try:
        return _by_type[type(x)]
    except KeyError:
        return registry.adapter_of(x)


_NUMPY = (np.ndarray, np.generic)  # NumPy data: arrays, ndarray subclasses, scalars
_SCALARS = (int, float, bool)  # np.float64 is a float: it stays a Python-like scalar


def dispatch(*args: Any, cast: bool = True) -> tuple[Any, tuple]:
    """The adapter of the first framework tensor argument, and the arguments on it.

    NumPy arrays (and ndarray subclasses) are data, as model input is: next to a
    framework tensor they go to its backend, so ``where(numpy_mask, torch_x,
    torch_y)`` stays a torch op (and in its autograd graph), and numbers among them
    take the dtype of the first float tensor (on the NumPy backend, where every
    tensor is an array, of the first float array): ``add(float32 tensor, float64
    array)`` is float32 on every backend, where TensorFlow would refuse the mix and
    torch or NumPy would give float64. With only Python scalars, the first becomes a
    tensor of the default backend, so the result is that backend's native tensor
    (float32 for a float, as ``pm.asarray``). ``cast=False`` keeps NumPy data's dtype
    (indices).
    """
    found = None
    for x in args:
        if not isinstance(x, _SCALARS):
            adapter = of(x)
            if adapter.NAME != _REFERENCE:
                found = adapter
                break
            found = found or adapter
    if found is not None:
        if found.NAME != _REFERENCE and not any(isinstance(x, _NUMPY) for x in args):
            return found, args  # the common case: framework tensors (and scalars) only
        return found, joined(found, args, cast)
    adapter = selection.chosen_adapter(None)
    first = args[0]
    array = np.asarray(first, np.float32) if type(first) is float else np.asarray(first)
    return adapter, (adapter.from_numpy(array),) + args[1:]


def joined(adapter: Any, args: tuple | list, cast: bool = True) -> tuple:
    """``args`` with their NumPy data on ``adapter``'s backend (and the first tensor's
    device), numbers in the dtype of the first float tensor (see ``dispatch``)."""
    reference = adapter.NAME == _REFERENCE
    tensors = [x for x in args
               if not isinstance(x, _SCALARS) and (reference or not isinstance(x, _NUMPY))]
    device = adapter.device_of(tensors[0]) if tensors else None
    floats = (d for d in map(adapter.dtype_of, tensors) if d.kind == "f") if cast else ()
    target = next(iter(floats), None)
    out = []
    for x in args:
        if isinstance(x, _NUMPY) and not isinstance(x, _SCALARS):
            x = np.asarray(x)
            if target is not None and x.dtype != target and x.dtype.kind in "iuf":
                x = x.astype(target)
            x = adapter.from_numpy(x, device)
        out.append(x)
    return tuple(out)


def on(adapter: Any, x: Any, like: Any) -> Any:
    """NumPy data ``x`` (a mask, indices) on ``adapter``'s backend and ``like``'s device,
    its dtype unchanged; anything else as it is."""
    if isinstance(x, _NUMPY):
        return adapter.from_numpy(np.asarray(x), adapter.device_of(like))
    return x


def floating(x: Any, op: str) -> Any:
    """The adapter of ``x``, which must be float: on integer tensors the frameworks
    disagree (torch refuses or promotes, TF refuses, MXNet truncates), so all refuse."""
    adapter = of(x)
    dtype = adapter.dtype_of(x)
    if dtype.kind not in "fc" and dtype.name != "bfloat16":  # ml_dtypes' bfloat16: kind V
        raise BackendTypeError(f"ops.{op} expects a float tensor; received a {adapter.NAME} "
                               f"tensor of dtype {dtype}. Convert it first with "
                               f"ops.astype(x, 'float32').")
    return adapter


def axis_of(axis: Any, dim: Any) -> Any:
    """The reduction axis: ``dim`` is an alias; a list becomes a tuple (what every
    framework takes)."""
    axis = axis if dim is None else dim
    return tuple(axis) if isinstance(axis, list) else axis


def like(target: Any, x: Any, adapter: Any) -> Any:
    """``target`` on ``x``'s backend (NumPy data or the same framework's tensor)."""
    if type(target) is not type(x) and adapter.NAME != _REFERENCE:
        source = registry.adapter_of(target)
        if source is not adapter:
            target = adapter.from_numpy(source.to_numpy(target))
    elif adapter.NAME == _REFERENCE:
        target = np.asarray(target)
    return target


def ints(value: Any, n: int, name: str = "value") -> tuple[int, ...]:
    """``value`` (an int or a sequence of ``n`` ints) as a tuple of ``n`` ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    try:
        out = tuple(int(v) for v in value)
    except TypeError:
        out = ()
    if len(out) != n:
        raise ValueError(f"{name} must be an int or a sequence of {n} ints; received "
                         f"{value!r}.")
    return out


def rank(adapter: Any, x: Any) -> int:
    """The number of axes of ``x``."""
    return len(adapter.shape(x))


def normalize_axis(axis: int, ndim: int, op: str) -> int:
    """``axis`` as a non-negative int below ``ndim`` (NumPy's and PyTorch's rule)."""
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"ops.{op}: axis {axis} is out of range for a tensor with {ndim} "
                         f"dimensions (expected {-ndim} <= axis < {ndim}).")
    return axis % max(ndim, 1)
