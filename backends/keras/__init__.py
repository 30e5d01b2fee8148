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
| ``tensorflow.python.eager.context.context().function_call_options`` (its ``config_proto_serialized``), ``RewriterConfig.cpu_layout_conversion`` | compiled calls run with Grappler's NCHW->NHWC conversion (``layout.py``) | calls as configured, and convolutions in their NCHW forms (``layout.active()`` stays False) | ``tests/test_keras_channels_last.py::test_the_calls_ask_grappler_for_the_conversion`` and the rest of that file |
| ``tf.function(experimental_attributes={"_noinline": True})`` | ``pm.compile``'s function stays a call of its own inside a user's ``tf.function``, so its conversion holds | an inlined function (the caller's options rule; correct, not converted) | ``tests/test_keras_channels_last.py::test_compiled_model_inside_a_users_tf_function_step`` |
| ``Model.make_train_function`` / ``make_test_function`` / ``make_predict_function`` and the ``*_function`` attributes they set | the twin's ``fit``/``evaluate``/``predict`` graphs run converted | if Keras stops calling them: unconverted graphs, same numbers | ``tests/test_keras_channels_last.py::test_the_twins_fit_and_predict_run_channels_last`` |
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
