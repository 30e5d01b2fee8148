"""The native twin (``pm.native``): the JAX idiom of parameters as a pytree and a pure
``apply``; and importing weights from a JAX pytree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .framework import ArrayImpl, jnp, narrowed
from .layers import dropout_key


class PolymodJaxModel:
    """A polymod model in JAX's terms: ``params`` in, outputs out, no hidden state.

    * ``params``: the current parameter values, ``{name: jax.Array}`` (a pytree);
      ``buffers``: the buffers' (BatchNorm's running statistics).
    * ``apply(params, *inputs, buffers=None, key=None, training=None, mutable=False)``:
      a pure function of its arguments, so ``jax.jit``, ``jax.grad`` and ``vmap`` apply.
      ``key`` feeds dropout (a ``jax.random`` key, required for dropout under
      ``jax.jit`` in training mode); ``training`` sets train/eval mode for this call;
      with ``mutable=True`` it returns ``(output, new_buffers)``.
    * ``update(values)``: writes parameter (or buffer) values back into the model, so
      ``net(X)``, ``net.state_dict()`` and ``pm.save`` see them.

    Calling the twin itself (``twin(X)``) runs the model with its stored values.
    """

    def __init__(self, module: Any):
        self.polymod_module = module

    @property
    def params(self) -> dict[str, Any]:
        return {name: h.value for name, h in self.polymod_module.named_parameters()}

    @property
    def buffers(self) -> dict[str, Any]:
        return {name: h.value for name, h in self.polymod_module.named_buffers()}

    def apply(self, params: Mapping[str, Any], *inputs: Any, buffers: Mapping | None = None,
              key: Any = None, training: bool | None = None, mutable: bool = False) -> Any:
        from polymod.functional import call_with_buffers, functional_call

        net = self.polymod_module
        values = dict(params) if buffers is None else {**params, **buffers}
        mode = net.training
        if training is not None and bool(training) is not mode:
            net.train(bool(training))
        try:
            with dropout_key(key):
                if mutable:
                    return call_with_buffers(net, values, *inputs)
                return functional_call(net, values, *inputs)
        finally:
            if net.training is not mode:
                net.train(mode)

    def update(self, values: Mapping[str, Any]) -> None:
        from polymod.errors import ShapeError, StateError

        net = self.polymod_module
        handles = dict(net.named_parameters())
        handles.update(net.named_buffers())
        unknown = sorted(set(values) - set(handles))
        if unknown:
            raise StateError(f"update: {type(net).__name__} has no parameter or buffer named "
                             f"{unknown}; it has {sorted(handles)}.")
        checked = []
        for name, value in values.items():  # all checked before anything is written
            handle = handles[name]
            if tuple(value.shape) != handle.shape:
                raise ShapeError(f"update: {name!r} has shape {handle.shape}; received "
                                 f"{tuple(value.shape)}.")
            dtype = narrowed(handle.dtype)
            if type(value) is not ArrayImpl or value.dtype != dtype:
                value = jnp.asarray(np.asarray(value), dtype)
            checked.append((handle, value))
        for handle, value in checked:  # immutable arrays: the model simply takes them
            handle.replace_value(value)

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.polymod_module(*inputs, **kwargs)

    def __repr__(self) -> str:
        return f"PolymodJaxModel({type(self.polymod_module).__name__}, params={len(self.params)})"


def native_twin(module: Any) -> PolymodJaxModel:
    return PolymodJaxModel(module)


def export_weights(source: Any) -> dict[str, np.ndarray]:
    """A JAX pytree of weights (nested dicts of arrays, or a twin) as ``{dotted name: array}``."""
    if isinstance(source, PolymodJaxModel):
        source = {**source.params, **source.buffers}
    if not isinstance(source, Mapping):
        from polymod.errors import BackendTypeError

        raise BackendTypeError(f"Expected a dict pytree of JAX arrays (or pm.native(net) on "
                               f"JAX); received {type(source).__qualname__}.")
    flat: dict[str, np.ndarray] = {}
    for key, value in source.items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{k}": v for k, v in export_weights(value).items()})
        else:
            flat[str(key)] = np.array(value, copy=True)
    return flat
