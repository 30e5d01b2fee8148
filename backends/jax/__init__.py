"""JAX adapter: the only place polymod imports jax.

JAX arrays are immutable and JAX has no parameter object: a parameter *is* its array.
``assign`` returns a new array and the parameter's handle re-points itself (and its
modules' attributes) to it. Gradients come from ``jax.value_and_grad`` over the
parameters, swapped for JAX's tracers while the model runs (``autograd.py``). The
native twin is the JAX idiom: ``params`` (a dict pytree), a pure ``apply`` for
``jax.jit``, and ``update`` (``twin.py``).

JAX facts polymod follows (docs/jax.md):

* x64 stays as the user set it (off by default): float32 by default, and 64-bit NumPy
  data (int64 token ids, float64 arrays) is converted to 32 bits on the way in
  (``framework.narrowed``); ``state_dict()`` still reports the neutral dtype.
* Eager JAX dispatches op by op and is slow for small models; ``jax.jit`` over
  ``pm.native(net).apply`` (or ``pm.functional_call``) is the fast path.
* Dropout: polymod's seeded NumPy masks in eager mode (the same masks as on every
  backend); under ``jax.jit`` a ``jax.random`` key must be given (``apply(key=...)``).

Private framework internals used (jax 0.7.1): none. ``jax.core.is_concrete`` and
``jax.core.Tracer`` are public; ``ArrayImpl`` is the type of an eager array, read from
an array at import (``type(jnp.zeros(()))``), never imported from ``jaxlib``.
"""

from __future__ import annotations

from polymod import adapter as _interface

from . import autograd, compiler, layers, ops, tensors, twin, updates
from . import framework as _framework
from .framework import jax

NAME = "jax"
# ArrayImpl first: the eager type, found by the dict lookup of polymod.ops; tracers
# (jit, grad, vmap) are resolved once per tracer type through isinstance.
TENSOR_TYPES = (_framework.ArrayImpl, jax.Array, _framework.Tracer)


def version() -> str:
    import jaxlib

    return f"jax {jax.__version__}, jaxlib {jaxlib.__version__}"


_interface.assemble(globals(), tensors, autograd, ops, layers, twin, updates, compiler)
