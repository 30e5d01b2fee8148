"""Keras 3 (TensorFlow) adapter: the only place polymod imports tensorflow and keras.

Parameters are ``keras.Variable`` objects (what ``compile``/``fit`` train); the
ops are TensorFlow's own functions, which take those variables directly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from typing import Any

import numpy as np

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401  -- PyTorch must load before TensorFlow (the other order can crash)

_requested = os.environ.get("KERAS_BACKEND", "tensorflow")
if _requested != "tensorflow":
    from polymod.errors import BackendUnavailableError

    raise BackendUnavailableError(
        f"polymod's 'keras' backend is Keras 3 on TensorFlow, but KERAS_BACKEND={_requested!r}. "
        f"Unset KERAS_BACKEND or set it to 'tensorflow' before polymod loads Keras.")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

NAME = "keras"
TENSOR_TYPES = (tf.Tensor, tf.Variable, keras.Variable)


def version() -> str:
    return f"keras {keras.__version__}, tensorflow {tf.__version__}"


# -- tensors -------------------------------------------------------------------------------
def from_numpy(array: np.ndarray, device: Any = None) -> tf.Tensor:
    if device is None:
        return tf.convert_to_tensor(array)
    with tf.device(device):
        return tf.identity(tf.convert_to_tensor(array))


def to_numpy(x: Any) -> np.ndarray:
    return np.array(x.numpy() if hasattr(x, "numpy") else keras.ops.convert_to_numpy(x))


def dtype_of(x: Any) -> np.dtype:
    return np.dtype(tf.as_dtype(x.dtype).as_numpy_dtype)


def shape(x: Any) -> tuple:
    return tuple(x.shape)


def device_of(x: Any) -> Any:
    device = getattr(x, "device", "") or ""
    return None if "CPU" in device.upper() or not device else device


def _scope(device: Any) -> Any:
    return contextlib.nullcontext() if device is None else tf.device(device)


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    with _scope(device):
        variable = keras.Variable(array, trainable=trainable, name=name.replace("/", "."),
                                  dtype=str(array.dtype))
    return variable, variable


def create_constant(array: np.ndarray, device: Any) -> tf.Tensor:
    return from_numpy(array, device)


def assign(target: Any, value: Any) -> None:
    """Writes ``value`` (NumPy data or a tensor of this backend) into ``target`` in place."""
    target.assign(value)


def set_trainable(native: Any, flag: bool) -> None:
    native.trainable = flag


# -- autograd --------------------------------------------------------------------------------
def no_grad() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()  # TensorFlow records only inside a GradientTape


def value_and_grad(fn: Any, tensors: list) -> tuple:
    with tf.GradientTape() as tape:
        value = fn()
    grads = tape.gradient(value, tensors,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO) if tensors else []
    return value, list(grads)


# -- ops ------------------------------------------------------------------------------------
def linear(x: Any, weight: Any, bias: Any) -> Any:
    if x.shape.rank == 2:
        out = tf.matmul(x, weight, transpose_b=True)
    else:  # 1-D and batched N-D input, as torch's F.linear takes them
        out = tf.tensordot(x, weight, axes=[[x.shape.rank - 1], [1]])
    return out if bias is None else out + bias


relu = tf.nn.relu
sigmoid = tf.math.sigmoid
tanh = tf.math.tanh
matmul = tf.linalg.matmul
add = tf.math.add
subtract = tf.math.subtract
multiply = tf.math.multiply
divide = tf.math.divide
maximum = tf.math.maximum
minimum = tf.math.minimum
abs = tf.math.abs
exp = tf.math.exp
log = tf.math.log
sqrt = tf.math.sqrt
where = tf.where
zeros_like = tf.zeros_like
ones_like = tf.ones_like


def gelu(x: Any) -> Any:
    return tf.nn.gelu(x, approximate=False)


def softmax(x: Any, axis: int = -1) -> Any:
    return tf.nn.softmax(x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return tf.nn.log_softmax(x, axis=axis)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return tf.reduce_sum(x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return tf.reduce_mean(x, axis=axis, keepdims=keepdims)


def _nan_aware(reduce: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # tf.reduce_max/min skip NaN; torch and NumPy return NaN: put it back.
    out = reduce(x, axis=axis, keepdims=keepdims)
    has_nan = tf.reduce_any(tf.math.is_nan(x), axis=axis, keepdims=keepdims)
    return tf.where(has_nan, tf.constant(np.nan, x.dtype), out)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _nan_aware(tf.reduce_max, x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _nan_aware(tf.reduce_min, x, axis, keepdims)


def reshape(x: Any, shape: tuple) -> Any:
    return tf.reshape(x, shape)


def permute_dims(x: Any, axes: Any = None) -> Any:
    return tf.transpose(x, axes)


def concat(xs: list, axis: int = 0) -> Any:
    return tf.concat(list(xs), axis=axis)


def stack(xs: list, axis: int = 0) -> Any:
    return tf.stack(list(xs), axis=axis)


def astype(x: Any, dtype: Any) -> Any:
    return tf.cast(x, np.dtype(dtype).name)


def flatten(x: Any, start_dim: int) -> Any:
    dims = tf.shape(x)
    return tf.reshape(x, tf.concat([dims[:start_dim], [tf.reduce_prod(dims[start_dim:])]], 0))


# -- native twin ----------------------------------------------------------------------------
class PolymodModel(keras.Model):
    """A ``keras.Model`` over a polymod model's own variables.

    ``compile``/``fit``/``evaluate``/``predict``, ``trainable_variables`` and
    ``tf.function`` work. Keras' ``training=`` argument governs the polymod model
    while it runs. Inside ``fit`` the model runs as a TensorFlow graph: Python
    control flow on tensor values (a ``while`` on a tensor) needs
    ``compile(..., run_eagerly=True)``.
    """

    def __init__(self, module: Any):
        super().__init__(name=f"polymod_{type(module).__name__}")
        object.__setattr__(self, "polymod_module", module)
        handles = [h for _, h in module._named_handles(("parameter",))]
        self.polymod_variables = [h.native for h in handles]
        self.built = True

    def call(self, inputs: Any, training: Any = None) -> Any:
        module = self.polymod_module
        if training is not None and bool(training) is not module.training:
            module.train(bool(training))
        return module(inputs)


def native_twin(module: Any) -> PolymodModel:
    return PolymodModel(module)


def export_weights(source: Any) -> list[np.ndarray]:
    """A Keras model's weights in creation order, 2-D kernels transposed to (out, in)."""
    return [w.T.copy() if w.ndim == 2 else w for w in
            (np.asarray(v.numpy()) for v in source.weights)]


def cross_entropy(logits: Any, target: Any) -> Any:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(target, tf.int64), logits=logits))
