"""Backend-neutral functions, dispatched on the type of their tensor arguments.

``ops.relu(x)`` runs ``torch.relu`` on a torch tensor, ``tf.nn.relu`` on a
TensorFlow tensor, ``npx.relu`` on an ``mx.np.ndarray`` and NumPy on a NumPy
array, and returns the same kind of tensor. Dispatch is one dict lookup on
``type(x)``. Names follow the Python array API standard where it has one
(``permute_dims``, ``astype``), with the familiar names as aliases
(``transpose``, ``cast``); reductions take ``axis`` (``dim`` works too).

Arguments are checked and normalised here, once; the adapters receive them ready.
Ops that are the same arithmetic on every backend (``hardswish``, ``std``, the norms,
``interpolate``, ``scaled_dot_product_attention``) are written here once from the
others; where a framework has a fused kernel with the same numbers, its adapter lists
it in ``FUSED`` and that runs instead. The functions live in private modules by group;
this package is the API.

Example:
    >>> import polymod as pm
    >>> from polymod import ops
    >>> ops.relu(pm.asarray([-1.0, 2.0], backend="numpy"))
    array([0., 2.], dtype=float32)
"""

from ._activations import (
    elu,
    gelu,
    hardsigmoid,
    hardswish,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from ._attention import scaled_dot_product_attention
from ._creation import arange, full
from ._elementwise import (
    abs,
    add,
    astype,
    cast,
    clamp,
    clip,
    cos,
    divide,
    erf,
    exp,
    log,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    multiply,
    ones_like,
    pow,
    rsqrt,
    sin,
    sqrt,
    square,
    stop_gradient,
    subtract,
    where,
    zeros_like,
)
from ._layers import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv,
    conv_transpose,
    dropout,
    embedding,
    linear,
    matmul,
    max_pool1d,
    max_pool2d,
)
from ._losses import binary_cross_entropy_with_logits, cross_entropy, mse_loss
from ._norm import group_norm, instance_norm, layer_norm
from ._reductions import (
    argmax,
    argmin,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    std,
    sum,
    var,
)
from ._resize import interpolate
from ._shapes import (
    broadcast_to,
    concat,
    einsum,
    expand,
    expand_dims,
    flatten,
    masked_fill,
    pad,
    permute_dims,
    reshape,
    shape,
    split,
    squeeze,
    stack,
    take,
    take_along_axis,
    transpose,
    tril,
    triu,
)

__all__ = [
    # elementwise
    "add", "subtract", "multiply", "divide", "maximum", "minimum", "pow", "square", "abs",
    "exp", "log", "sqrt", "rsqrt", "erf", "sin", "cos", "clip", "clamp", "where",
    "logical_and", "logical_or", "logical_xor", "logical_not", "zeros_like", "ones_like",
    "astype", "cast", "stop_gradient",
    # activations
    "relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "silu", "leaky_relu",
    "relu6", "hardsigmoid", "hardswish", "softplus", "elu",
    # reductions and scans
    "sum", "mean", "max", "min", "var", "std", "argmax", "argmin", "logsumexp", "cumsum",
    # creation
    "arange", "full",
    # shapes and indexing
    "reshape", "permute_dims", "transpose", "flatten", "concat", "stack", "split",
    "expand_dims", "squeeze", "shape", "take", "take_along_axis", "masked_fill",
    "broadcast_to", "expand", "tril", "triu", "einsum", "pad",
    # layers
    "matmul", "linear", "embedding", "dropout", "conv", "conv_transpose", "max_pool1d",
    "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "interpolate", "layer_norm", "group_norm", "instance_norm",
    "scaled_dot_product_attention",
    # losses
    "cross_entropy", "mse_loss", "binary_cross_entropy_with_logits",
]
