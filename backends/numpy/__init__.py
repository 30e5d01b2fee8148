"""NumPy adapter: the forward-only reference backend (imports no framework).

Computes in float64 where float32 would round differently from the frameworks (conv,
GELU), then casts back; it has no autograd and no native twin.

Private framework internals used: none.
"""

from __future__ import annotations

import numpy as np

from .autograd import (  # noqa: F401
    no_grad,
    value_and_grad,
)
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
    export_weights,
    native_twin,
)
from .updates import (  # noqa: F401
    adam_,
    addcdiv_sqrt_,
    addcmul_,
    axpby_,
)

NAME = "numpy"
TENSOR_TYPES = (np.ndarray, np.generic)


def version() -> str:
    return np.__version__


