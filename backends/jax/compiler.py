"""``pm.compile`` on JAX: ``jax.jit`` over the pure form of the model (what
``pm.native(net).apply`` runs: ``call_with_buffers`` with a dropout key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .framework import jax


def compile_module(module: Any, training: bool, options: dict) -> Callable:
    from polymod.errors import UnsupportedError
    from polymod.functional import call_with_buffers
    from polymod.random import generator

    from .layers import dropout_key

    def pure(params: dict, buffers: dict, key: Any, inputs: tuple, keywords: dict) -> Any:
        with dropout_key(key):  # the model is in mode `training` (the caller's contract)
            return call_with_buffers(module, {**params, **buffers}, *inputs, **keywords)

    try:
        jitted = jax.jit(pure, **options)
    except TypeError as err:
        raise UnsupportedError(f"pm.compile on the 'jax' backend: jax.jit refused options "
                               f"{options}: {err}") from err
    params = dict(module.named_parameters())
    buffers = dict(module.named_buffers())

    def call(*inputs: Any, **keywords: Any) -> Any:
        # dropout in training mode draws from a new key on each call, seeded by polymod
        key = jax.random.key(int(generator().integers(2**31))) if training else None
        try:
            out, written = jitted({n: h.value for n, h in params.items()},
                                  {n: h.value for n, h in buffers.items()}, key, inputs, keywords)
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError) as err:
            raise UnsupportedError(
                f"pm.compile on the 'jax' backend: {type(module).__name__} uses Python "
                f"control flow on a traced value, which jax.jit cannot compile "
                f"({type(err).__name__}). Call the model eagerly, or use jax.lax.cond / "
                f"while_loop.") from err
        if training:  # BatchNorm's running statistics (eval mode writes none)
            for name, value in written.items():
                buffers[name].assign(value)
        return out

    return call
