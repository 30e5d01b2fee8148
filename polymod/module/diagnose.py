"""Turning a framework's failure into an error a user can act on.

Nothing here runs on the happy path: ``Module.__call__`` lets the framework's
op fail (no per-call checks), then ``explain`` finds the module whose
``forward`` failed (from the traceback), looks at what it received, and raises
a ``PolymodError`` naming what was expected, what was received and where. An
error it cannot explain is re-raised unchanged, with a note naming the module.
"""

from __future__ import annotations

from typing import Any

from .. import registry
from ..dtypes import FLOAT_NAMES
from ..errors import BackendTypeError, DTypeError, PolymodError
from .tree import Traversal

_ENTRY_POINTS = ("forward", "build")


def explain(module: Any, err: BaseException, args: tuple = ()) -> None:
    """Raises a clear PolymodError for ``err`` if it can; otherwise annotates ``err``."""
    if isinstance(err, PolymodError):
        if err.module is None:
            err.module = module
        locate(module, err)
        return
    culprit, inputs = _culprit(module, err, args)
    problem = _check_inputs(culprit, inputs)
    if problem is not None:
        problem.module = culprit
        locate(module, problem)
        raise problem from err
    _annotate(module, culprit, err)


def locate(root: Any, error: PolymodError) -> None:
    """Sets ``error.path`` to the dotted path of ``error.module`` seen from ``root``."""
    for path, candidate in root.named_modules():
        if candidate is error.module:
            error.path = path
            return


def _culprit(root: Any, err: BaseException, args: tuple) -> tuple[Any, tuple]:
    culprit, inputs = root, args
    tb = err.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        owner = frame.f_locals.get("self")
        if isinstance(owner, Traversal) and frame.f_code.co_name in _ENTRY_POINTS:
            code = frame.f_code
            names = code.co_varnames[1:code.co_argcount]
            culprit, inputs = owner, tuple(frame.f_locals.get(n) for n in names)
        tb = tb.tb_next
    return culprit, inputs


def _check_inputs(module: Any, inputs: tuple) -> PolymodError | None:
    if not inputs:
        return None
    x = inputs[0]
    name = type(module).__name__
    try:
        owner = registry.adapter_of(x)
    except BackendTypeError:
        kind = type(x)
        hint = registry.conversion_hint(x) or " Convert data with pm.asarray(data)."
        return BackendTypeError(
            f"{name} expects a tensor as input; received {kind.__module__}.{kind.__qualname__}."
            f"{hint}")
    binding = module.__dict__["_bound"]
    if binding is None:
        return None
    bound = binding.adapter
    if owner is not bound and owner.NAME != registry.REFERENCE:
        return BackendTypeError(
            f"{name} is bound to backend {bound.NAME!r}; received a {owner.NAME!r} tensor "
            f"({type(x).__qualname__}). Convert it with pm.asarray(x, backend={bound.NAME!r}), "
            f"or get a copy of the model with net.to({owner.NAME!r}).")
    device = owner.device_of(x) if owner is bound else None
    if device != binding.device:
        here = "cpu" if binding.device is None else binding.device
        return BackendTypeError(
            f"{name}'s parameters are on device {str(here)!r}; received a {owner.NAME} tensor "
            f"on device {str(device or 'cpu')!r}. Move the input to {str(here)!r} (e.g. "
            f"x.to({str(here)!r})); a model stays on the device of its first input.")
    try:
        dtype = owner.dtype_of(x)
    except (TypeError, ImportError):  # a dtype NumPy cannot name here (bfloat16)
        dtype = str(getattr(x, "dtype", "unknown")).rpartition(".")[2]
    if dtype != module._dtype and not module.accepts_integer_input:
        message = (f"{name} expects {module._dtype} input; received a {owner.NAME} tensor of "
                   f"dtype {dtype}. Convert it with ops.cast(x, '{module._dtype}')")
        if str(dtype) in FLOAT_NAMES:  # another float dtype: the model could follow it
            return DTypeError(f"{message}, or the model with net.to(dtype='{dtype}').")
        return BackendTypeError(f"{message}.")
    return module.check_input(*inputs)


def _annotate(root: Any, culprit: Any, err: BaseException) -> None:
    path = next((p for p, m in root.named_modules() if m is culprit), None)
    where = f"'{path}'" if path else "<root>"
    note = f"polymod: raised inside module {where} ({type(culprit).__name__})"
    notes = getattr(err, "__notes__", None)
    index = getattr(err, "_polymod_note", None)
    if notes is not None and index is not None and index < len(notes):
        notes[index] = note
        return
    try:
        err.add_note(note)
        err._polymod_note = len(err.__notes__) - 1
    except (AttributeError, TypeError):  # exotic exception types refuse attributes
        pass
