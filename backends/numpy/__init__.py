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
    conv_transpose,
    cross_entropy,
    cross_entropy_per_sample,
    dropout,
    elu,
    fused_attention,
    gelu_tanh,
    leaky_relu,
    linear,
    max_pool2d,
    relu6,
    silu,
    softplus,
)
from .ops import (  # noqa: F401
    abs,
    add,
    argmax,
    argmin,
    astype,
    broadcast_to,
    clip,
    concat,
    cos,
    cumsum,
    divide,
    einsum,
    embedding,
    erf,
    exp,
    expand_dims,
    flatten,
    gelu,
    log,
    log_softmax,
    logsumexp,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    ones_like,
    pad,
    permute_dims,
    pow,
    relu,
    reshape,
    rsqrt,
    sigmoid,
    sin,
    softmax,
    split,
    sqrt,
    squeeze,
    stack,
    stop_gradient,
    subtract,
    sum,
    take,
    take_along_axis,
    tanh,
    tril,
    triu,
    var,
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

NAME = "numpy"
TENSOR_TYPES = (np.ndarray, np.generic)


def version() -> str:
    return np.__version__


