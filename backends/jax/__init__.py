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

from . import framework as _framework
from .autograd import (  # noqa: F401
    no_grad,
    value_and_grad,
)
from .framework import jax
from .layers import (  # noqa: F401
    avg_pool2d,
    bce_with_logits,
    conv,
    cross_entropy,
    cross_entropy_per_sample,
    dropout,
    leaky_relu,
    linear,
    max_pool2d,
    silu,
)
from .ops import (  # noqa: F401
    abs,
    add,
    astype,
    concat,
    divide,
    embedding,
    exp,
    expand_dims,
    flatten,
    gelu,
    log,
    log_softmax,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    ones_like,
    permute_dims,
    relu,
    reshape,
    sigmoid,
    softmax,
    split,
    sqrt,
    squeeze,
    stack,
    stop_gradient,
    subtract,
    sum,
    take,
    tanh,
    where,
    zeros_like,
)
from .tensors import (  # noqa: F401
    assign,
    create_buffer,
    create_constant,
    create_parameter,
    device_of,
    dtype_of,
    from_numpy,
    is_trainable,
    set_trainable,
    shape,
    to_numpy,
)
from .twin import (  # noqa: F401
    PolymodJaxModel,
    export_weights,
    native_twin,
)

NAME = "jax"
# ArrayImpl first: the eager type, found by the dict lookup of polymod.ops; tracers
# (jit, grad, vmap) are resolved once per tracer type through isinstance.
TENSOR_TYPES = (_framework.ArrayImpl, jax.Array, _framework.Tracer)


def version() -> str:
    import jaxlib

    return f"jax {jax.__version__}, jaxlib {jaxlib.__version__}"
