"""Gradients on each framework's own autograd: ``value_and_grad`` and ``no_grad``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from . import random, registry, selection
from .dtypes import is_float as is_float_dtype
from .errors import BackendTypeError, ShapeError, StateError
from .module import Module
from .module.binding import adapter_of_module

#: A framework's dtype object (``torch.float32``, ``tf.int32``) -> whether it is a float
#: dtype: the loss's dtype is checked on every call, so without a NumPy conversion.
_FLOAT: dict[Any, bool] = {}


def _materialize(net: Module, fn: Callable, args: tuple, kwargs: dict) -> None:
    """Binds and builds a model before recording, so lazy parameters exist to differentiate.

    The extra forward pass leaves no trace: it runs in eval mode (no BatchNorm statistics
    updated) and polymod's random generator is restored after it (dropout masks), so the
    first step of a run is the same whether or not the model was ready (a checkpoint
    loaded into a fresh model resumes exactly).
    """
    inputs = [a for a in args if not isinstance(a, (int, float, bool, str))]
    bound = adapter_of_module(net)
    adapter = bound or (registry.adapter_of(inputs[0]) if inputs else None)
    if bound is None and adapter is not None and adapter.NAME != registry.REFERENCE:
        net.to(adapter.NAME, device=adapter.device_of(inputs[0]))
    modes = [(module, module.training) for module in net.modules()]
    state = random.generator().bit_generator.state
    try:
        net.eval()
        with (adapter_of_module(net) or selection.chosen_adapter(None)).no_grad():
            fn(net, *args, **kwargs)  # one forward pass materialises every lazy shape
    finally:
        for module, flag in modes:  # parents first: a child's own flag comes after
            module.train(flag)
        random.generator().bit_generator.state = state


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
        adapter = net._bound.adapter
        if registry.adapter_by_type.get(type(value)) is not adapter:
            _refuse_non_tensor(value, adapter, has_aux)
        shape = tuple(adapter.shape(value))
        if shape not in ((), (1,)):  # torch refuses, TF and MXNet would sum silently
            raise ShapeError(f"value_and_grad differentiates a scalar; the function returned "
                             f"a tensor of shape {shape}. Reduce it first, e.g. ops.mean(loss).")
        is_float = _FLOAT.get(value.dtype)  # every framework's tensor has .dtype
        if is_float is None:
            is_float = _FLOAT[value.dtype] = is_float_dtype(adapter.dtype_of(value))
        if not is_float:  # torch and TF would give zeros, MXNet a gradient
            dtype = adapter.dtype_of(value)
            raise BackendTypeError(
                f"value_and_grad differentiates a float loss; the function returned a "
                f"{adapter.NAME} tensor of dtype {dtype}, whose gradient is undefined. Keep "
                f"the loss in float (drop the cast to {dtype}).")
        return value

    def unpacked(out: Any, net: Module) -> tuple:
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise StateError(f"value_and_grad(has_aux=True) expects the function to return "
                             f"(value, aux); it returned {type(out).__qualname__}.")
        return checked(out[0], net), out[1]

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
        # aux travels through the return value, not a side channel: a framework that
        # traces (JAX) would otherwise hand back its tracers
        if has_aux:
            value, aux, grads = net._bound.adapter.value_and_grad(
                lambda: unpacked(fn(net, *args, **kwargs), net), tensors)
            return (value, aux), dict(zip(names, grads, strict=True))
        value, _, grads = net._bound.adapter.value_and_grad(
            lambda: (checked(fn(net, *args, **kwargs), net), None), tensors)
        return value, dict(zip(names, grads, strict=True))

    return wrapped


def _refuse_non_tensor(value: Any, adapter: Any, has_aux: bool) -> None:
    """Raises unless ``value`` is a tensor of ``adapter`` (looked up past the type cache)."""
    try:
        if registry.adapter_of(value) is adapter:
            return
        kind = f"a {registry.adapter_of(value).NAME} tensor ({type(value).__qualname__})"
    except BackendTypeError:
        if isinstance(value, (tuple, list)):
            kind = f"a {type(value).__qualname__} of {len(value)}"
        else:
            kind = "None" if value is None else f"{type(value).__qualname__} {value!r:.60}"
    if isinstance(value, (tuple, list)) and not has_aux:
        hint = ("If the function returns (loss, aux), pass has_aux=True: "
                "pm.value_and_grad(fn, has_aux=True).")
    elif value is None:
        hint = "Did the function forget to return the loss?"
    else:
        hint = (f"Compute the loss from the model's output with polymod.ops (e.g. "
                f"ops.mean(...)), so that it stays a {adapter.NAME} tensor.")
    raise BackendTypeError(
        f"value_and_grad expects the function to return the loss, a scalar float "
        f"{adapter.NAME} tensor computed from the model; it returned {kind}. {hint}")


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
