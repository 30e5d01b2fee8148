"""Gradients on each framework's own autograd: ``value_and_grad`` and ``no_grad``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from . import backend as _backend
from .errors import ShapeError, StateError
from .module import Module


def _materialize(net: Module, fn: Callable, args: tuple, kwargs: dict) -> None:
    """Binds and builds a model before recording, so lazy parameters exist to differentiate."""
    inputs = [a for a in args if not isinstance(a, (int, float, bool, str))]
    adapter = net._adapter or (_backend.adapter_of(inputs[0]) if inputs else None)
    if net._adapter is None and adapter is not None and adapter.NAME != "numpy":
        net.to(adapter.NAME, device=adapter.device_of(inputs[0]))
    with (net._adapter or _backend.resolve(None)).no_grad():
        fn(net, *args, **kwargs)  # one forward pass materialises every lazy shape


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

    @functools.wraps(fn)
    def wrapped(net: Module, *args: Any, **kwargs: Any) -> tuple:
        if not isinstance(net, Module):
            raise StateError(f"value_and_grad's function takes the model as its first "
                             f"argument; received {type(net).__qualname__}.")
        handles = list(net.named_parameters())
        if not net._ready or not all(h.materialized for _, h in handles):
            _materialize(net, fn, args, kwargs)
            handles = list(net.named_parameters())
        names, tensors = [], []
        for name, handle in handles:
            if handle.trainable:
                names.append(name)
                tensors.append(handle.value)
        aux: list[Any] = []

        def loss() -> Any:
            out = fn(net, *args, **kwargs)
            if has_aux:
                if not isinstance(out, (tuple, list)) or len(out) != 2:
                    raise StateError(f"value_and_grad(has_aux=True) expects the function to "
                                     f"return (value, aux); it returned "
                                     f"{type(out).__qualname__}.")
                out, extra = out
                aux.append(extra)
            shape = tuple(net._adapter.shape(out))
            if shape not in ((), (1,)):  # torch refuses, TF and MXNet would sum silently
                raise ShapeError(f"value_and_grad differentiates a scalar; the function "
                                 f"returned a tensor of shape {shape}. Reduce it first, "
                                 f"e.g. ops.mean(loss).")
            return out

        value, grads = net._adapter.value_and_grad(loss, tensors)
        result = (value, aux[0]) if has_aux else value
        return result, dict(zip(names, grads, strict=True))

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
        names = [backend] if backend else list(_backend._adapters)
        for name in names:
            stack.enter_context(_backend.adapter(name).no_grad())
        yield
