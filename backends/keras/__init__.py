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

from polymod import adapter as _interface

from . import autograd, compiler, layers, ops, tensors, twin, updates
from .framework import keras, tf

NAME = "keras"
TENSOR_TYPES = (tf.Tensor, tf.Variable, keras.Variable)


def version() -> str:
    return f"keras {keras.__version__}, tensorflow {tf.__version__}"


_interface.assemble(globals(), tensors, autograd, ops, layers, twin, updates, compiler)
