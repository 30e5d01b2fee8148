"""Calling a model with other values than its own: ``pm.functional_call``.

``functional_call(net, params, X)`` runs ``net(X)`` with the tensors of ``params``
(``{name: tensor}``, names as in ``state_dict()``) in place of the model's own, and
gives the model its own back afterwards, on error too: PyTorch's
``torch.func.functional_call``. The values are swapped through the parameter handles
(``Handle.replace_value``), so ``forward`` reads them as plain attributes.

On JAX this is a pure function of ``params`` and the inputs, so ``jax.jit`` and
``jax.grad`` apply to it (see ``docs/jax.md``). Buffers have a functional form too:
``call_with_buffers`` returns the buffers' values after the call (BatchNorm's running
statistics in training mode) next to the output, as flax's ``mutable=`` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from . import registry
from .errors import ShapeError, StateError
from .handles import REBINDS, Handle, handle_of
from .module import Module


@contextlib.contextmanager
def swapped(pairs: Iterable[tuple[Handle, Any]]) -> Iterator[dict]:
    """Inside the block, each handle (and its modules' attributes) reads the given tensor.

    Yields a dict that, once the block ends normally, maps each handle the model
    re-pointed during the block (a write into immutable arrays, e.g. BatchNorm's running
    statistics on JAX) to its new value. On exit every handle has its value of before
    the block, whatever happened inside.
    """
    pairs = list(pairs)
    originals = [(handle, handle.value) for handle, _ in pairs]
    log: list = []
    first = None  # where the model's own writes start in the log (after the swaps)
    token = REBINDS.set(log)
    try:
        for handle, value in pairs:
            handle.replace_value(value)
        first = len(log)
        writes: dict = {}
        yield writes
        for handle, _ in log[first:]:
            writes[handle] = handle.value
    finally:
        REBINDS.reset(token)
        outer = REBINDS.set(None)  # restoring is no write for an enclosing block
        try:
            restore = {id(h): (h, value) for h, value in originals}  # swapped: model's own
            for handle, old in log[len(log) if first is None else first:]:
                restore.setdefault(id(handle), (handle, old))  # written only: value before
            for handle, value in restore.values():
                handle.replace_value(value)
        finally:
            REBINDS.reset(outer)


def handles_of(tensors: Iterable[Any]) -> list[Handle]:
    """The handles whose current values are ``tensors`` (what ``forward`` reads).

    For an adapter's ``value_and_grad`` that must swap tracers in (JAX).
    """
    handles = []
    for tensor in tensors:
        handle = handle_of(tensor)
        if handle is None:
            raise StateError(f"No parameter holds this {type(tensor).__qualname__}: expected "
                             f"the current value of a bound parameter.")
        handles.append(handle)
    return handles


def _pairs(net: Module, params: Any) -> list[tuple[Handle, Any]]:
    if not isinstance(net, Module):
        raise StateError(f"functional_call expects a polymod Module; received "
                         f"{type(net).__qualname__}.")
    if not hasattr(params, "items"):
        raise StateError(f"functional_call expects a mapping {{name: tensor}}; received "
                         f"{type(params).__qualname__}.")
    if net.backend is None:  # bind as a first call would, from the first tensor given
        first = next(iter(params.values()), None)
        net.to(registry.adapter_of(first).NAME if first is not None else None)
    handles = dict(net.named_parameters())
    handles.update(net.named_buffers())
    handles.update(net.named_constants())
    unknown = [name for name in params if name not in handles]
    if unknown:
        raise StateError(f"functional_call: {type(net).__name__} has no parameter, buffer or "
                         f"constant named {unknown}; it has {sorted(handles)}.")
    pairs = []
    for name, value in params.items():
        handle = handles[name]
        shape = tuple(value.shape)
        if shape != handle.shape:
            raise ShapeError(f"functional_call: {name!r} has shape {handle.shape}; received "
                             f"a tensor of shape {shape}.")
        pairs.append((handle, value))
    return pairs


def functional_call(net: Module, params: Any, *args: Any, **kwargs: Any) -> Any:
    """Calls ``net(*args, **kwargs)`` with ``params`` instead of its stored values.

    ``params`` maps names (as in ``state_dict()``: parameters, buffers, constants; any
    subset) to native tensors of the model's backend; the others keep the model's own.
    The model's stored values are the same afterwards (PyTorch's
    ``torch.func.functional_call``). A buffer the model writes (BatchNorm in training
    mode) is written into the tensor in use where the framework writes in place (the
    given one, or the model's own, as torch does); on JAX, whose arrays are immutable,
    the call is pure and the new values are dropped: get them from
    ``call_with_buffers``.

    Example:
        >>> import polymod as pm
        >>> net = pm.nn.Linear(3, 1).to("numpy")
        >>> zeros = {"weight": pm.zeros(1, 3), "bias": pm.ones(1)}
        >>> pm.functional_call(net, zeros, pm.ones(2, 3)).tolist()
        [[1.0], [1.0]]
        >>> bool((net.weight != 0).any())  # the model keeps its own weights
        True
    """
    with swapped(_pairs(net, params)):
        return net(*args, **kwargs)


def call_with_buffers(net: Module, params: Any, *args: Any, **kwargs: Any) -> tuple[Any, dict]:
    """``functional_call`` that also returns every buffer's value after the call.

    Returns ``(output, buffers)``, ``buffers`` a ``{name: tensor}`` dict of all the
    model's buffers (BatchNorm's ``running_mean``, ``running_var``,
    ``num_batches_tracked``): pass it back in ``params`` on the next call. This is the
    functional form of buffers (flax's ``mutable=`` habit), pure on JAX; on every
    backend the model's own buffers stay as they were (a buffer not given runs on a
    copy where the framework writes in place).

    Example:
        >>> import polymod as pm
        >>> bn = pm.nn.BatchNorm1d(2).to("numpy")
        >>> _, buffers = pm.functional.call_with_buffers(bn, {}, pm.rand(4, 2))
        >>> int(buffers["num_batches_tracked"]), int(bn.num_batches_tracked)
        (1, 0)
    """
    pairs = _pairs(net, params)
    if not registry.spec(net.backend).immutable:  # in-place writes: run on copies, so that
        given = {id(handle) for handle, _ in pairs}  # the model's own buffers stay as they are
        for _, handle in net.named_buffers():
            if id(handle) not in given:
                adapter = handle.adapter
                pairs.append((handle, adapter.from_numpy(adapter.to_numpy(handle.value))))
    with swapped(pairs):
        out = net(*args, **kwargs)
        buffers = {name: handle.value for name, handle in net.named_buffers()}
    return out, buffers
