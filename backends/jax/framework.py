"""Imports JAX once, and what polymod needs to know about its configuration.

polymod leaves ``jax_enable_x64`` as the user set it (off by default): without it JAX
has no 64-bit types, so 64-bit NumPy data becomes 32-bit on the way in (``narrowed``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

#: The concrete array type of eager JAX (``jax.Array`` is an abstract base).
ArrayImpl = type(jnp.zeros(()))
Tracer = jax.core.Tracer

_NARROW = {np.dtype(np.int64): np.dtype(np.int32), np.dtype(np.uint64): np.dtype(np.uint32),
           np.dtype(np.float64): np.dtype(np.float32),
           np.dtype(np.complex128): np.dtype(np.complex64)}


def narrowed(dtype: np.dtype) -> np.dtype:
    """The dtype JAX stores ``dtype`` as: 64-bit types become 32-bit unless x64 is on."""
    if dtype in _NARROW and not jax.config.jax_enable_x64:
        return _NARROW[dtype]
    return dtype


def is_traced(x: object) -> bool:
    """Whether ``x`` is an abstract value of a staged trace (``jax.jit``, ``vmap``, ``scan``).

    Eager arrays and the tracers of eager autodiff (``jax.grad`` outside ``jit``) carry
    concrete values: for those polymod can still use its own NumPy-drawn dropout masks.
    """
    return type(x) is not ArrayImpl and not jax.core.is_concrete(x)


__all__ = ["jax", "jnp", "lax", "np", "ArrayImpl", "Tracer", "narrowed", "is_traced"]
