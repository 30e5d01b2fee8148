"""Gradients with ``jax.value_and_grad``: the model runs with its parameters swapped for
JAX's tracers, and gets its own arrays back afterwards (on error too)."""

from __future__ import annotations

import contextlib
from typing import Any

from .framework import jax, jnp


def no_grad() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()  # JAX records nothing outside its transformations


def value_and_grad(fn: Any, tensors: list) -> tuple:
    from polymod.functional import handles_of, swapped

    handles = handles_of(tensors)
    written: list = []

    def pure(values: list) -> tuple:
        with swapped(zip(handles, values, strict=True)) as writes:
            value, aux = fn()
        written[:] = writes  # buffers the model wrote (BatchNorm's running statistics)
        # jax.grad needs a 0-d value; a (1,) one is reshaped and returned as it is
        scalar = value if value.ndim == 0 else jnp.reshape(value, ())
        return scalar, (value, aux, list(writes.values()))

    (_, (value, aux, news)), grads = jax.value_and_grad(pure, has_aux=True)(list(tensors))
    for handle, new in zip(written, news, strict=True):  # concrete now: the model keeps them
        handle.replace_value(new)
    return value, aux, grads
