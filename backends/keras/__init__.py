"""Keras 3 (TensorFlow) adapter: the only place polymod imports tensorflow and keras.

Parameters are ``keras.Variable`` objects (what ``compile``/``fit`` train); modules
read the ``tf.Variable`` inside each (the same storage), and the ops are TensorFlow's
own functions.

Private framework internals used (tensorflow-cpu 2.21.0, keras 3.15.1):

| internal | why | fallback | covered by |
|---|---|---|---|
| ``keras.Variable.value`` being the backing ``tf.Variable`` | forward reads the ``tf.Variable``: ~3 us less per read than converting the ``keras.Variable`` | the ``keras.Variable`` itself (when ``.value`` is not a ``tf.Variable``) | ``tests/test_module.py``, ``tests/test_native_twins.py`` |
| ``keras.Variable(tf.Variable)`` keeping the given variable | adopting 64-byte aligned NumPy memory through DLPack without a copy | ``keras.Variable(array)`` (below 1 MiB, on a device, other dtypes) | ``tests/test_fast_paths.py::test_moving_a_large_model_keeps_values_and_shares_nothing`` |
| ``tf.experimental.dlpack.from_dlpack`` | the same zero-copy handover | TensorFlow's own conversion | same |
| ``tf.raw_ops.Conv2DBackpropInput`` / ``Conv2DBackpropFilter`` with ``EXPLICIT`` padding | conv gradients in NHWC (TF's CPU kernels have no NCHW gradient) | the tape over an NHWC conv (grouped or dilated convs) | ``tests/test_layers_conv.py`` |
"""

from __future__ import annotations

from .autograd import (  # noqa: F401
    no_grad,
    value_and_grad,
)
from .framework import (  # noqa: F401
    keras,
    tf,
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
    PolymodModel,
    export_weights,
    native_twin,
)
from .updates import (  # noqa: F401
    adam_,
    addcdiv_sqrt_,
    addcmul_,
    axpby_,
)

NAME = "keras"
TENSOR_TYPES = (tf.Tensor, tf.Variable, keras.Variable)


def version() -> str:
    return f"keras {keras.__version__}, tensorflow {tf.__version__}"


