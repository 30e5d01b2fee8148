"""Gradients on each framework's own autograd: ``value_and_grad`` and ``no_grad``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from . import registry, selection
from .errors import ShapeError, StateError
from .module import Module
from .module.binding import adapter_of_module


def _materialize(net: Module, fn: Callable, args: tuple, kwargs: dict) -> None:
    """Binds and builds a model before recording, so lazy parameters exist to differentiate."""
    inputs = [a for a in args if not isinstance(a, (int, float, bool, str))]
    bound = adapter_of_module(net)
    adapter = bound or (registry.adapter_of(inputs[0]) if inputs else None)
    if bound is None and adapter is not None and adapter.NAME != registry.REFERENCE:
        net.to(adapter.NAME, device=adapter.device_of(inputs[0]))
    with (adapter_of_module(net) or selection.chosen_adapter(None)).no_grad():
        fn(net, *args, **kwargs)  # one forward pass materialises every lazy shape


def _parameters(net: Module, fn: Callable, args: tuple, kwargs: dict) -> tuple[list, list]:
    """Names and handles of the model's parameters, all bound and materialised.

    Checked once per traversal: Module caches the list until the model changes, and a
    parameter, once materialised, stays so.
    """
    cache = net.__dict__["_cache"]
    handles = net.named_handles(("parameter",))
    checked = cache.get("checked_parameters")
    if checked is not None and checked[0] is handles:
        return checked[1], checked[2]
    if not net._ready or not all(h.materialized for _, h in handles):
        _materialize(net, fn, args, kwargs)
        handles = net.named_handles(("parameter",))
    names, plain = [name for name, _ in handles], [h for _, h in handles]
    cache["checked_parameters"] = (handles, names, plain)
    return names, plain


def value_and_grad(fn: Callable[..., Any], has_aux: bool = False) -> Callable[..., Any]:
    """Wraps ``fn(net, *args)`` to return ``(value, grads)``, ``grads`` keyed by parameter name.

    The gradients are native tensors of the model's backend, computed by that
    framework's autograd, for every trainable parameter (constants get none).
    With ``has_aux=True``, ``fn`` returns ``(value, aux)`` and the result is
    ``((value, aux), grads)``.

    Example:
        >>> import polymod as pm
        >>> from polymod import nn, ops
        >>> net = nn.Linear(3, 1).to("torch")
        >>> loss, grads = pm.value_and_grad(lambda m, X: ops.sum(m(X)))(net, pm.ones(2, 3))
        >>> sorted(grads), tuple(grads["weight"].shape)
        (['bias', 'weight'], (1, 3))
    """

    def checked(value: Any, net: Module) -> Any:
        shape = tuple(net._bound.adapter.shape(value))
        if shape not in ((), (1,)):  # torch refuses, TF and MXNet would sum silently
            raise ShapeError(f"value_and_grad differentiates a scalar; the function returned "
                             f"a tensor of shape {shape}. Reduce it first, e.g. ops.mean(loss).")
        return value

    def unpacked(out: Any, aux: list) -> Any:
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise StateError(f"value_and_grad(has_aux=True) expects the function to return "
                             f"(value, aux); it returned {type(out).__qualname__}.")
        aux.append(out[1])
        return out[0]

    @functools.wraps(fn)
    def wrapped(net: Module, *args: Any, **kwargs: Any) -> tuple:
        if not isinstance(net, Module):
            raise StateError(f"value_and_grad's function takes the model as its first "
                             f"argument; received {type(net).__qualname__}.")
        names, handles = _parameters(net, fn, args, kwargs)
        # the framework's own flag (Parameter.trainable reads it too; this skips the property)
        is_trainable = net._bound.adapter.is_trainable
        tensors = [h.value for h in handles if is_trainable(h.native, h._trainable)]
        if len(tensors) != len(handles):  # some are frozen: no gradient for them
            names = [name for name, h in zip(names, handles, strict=True) if h.trainable]
        aux: list[Any] = []
        if has_aux:
            value, grads = net._bound.adapter.value_and_grad(
                lambda: checked(unpacked(fn(net, *args, **kwargs), aux), net), tensors)
            return (value, aux[0]), dict(zip(names, grads, strict=True))
        value, grads = net._bound.adapter.value_and_grad(
            lambda: checked(fn(net, *args, **kwargs), net), tensors)
        return value, dict(zip(names, grads, strict=True))

    return wrapped


@contextlib.contextmanager
def no_grad(backend: str | None = None) -> Iterator[None]:
    """Turns off gradient recording (of ``backend``, or of every loaded framework).

    Example:
        >>> import polymod as pm
        >>> with pm.no_grad():
        ...     y = pm.nn.Linear(2, 2)(pm.ones(1, 2, backend="numpy"))
    """
    with contextlib.ExitStack() as stack:
        names = [backend] if backend else list(registry.loaded())
        for name in names:
            stack.enter_context(registry.adapter(name).no_grad())
        yield
