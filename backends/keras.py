"""Keras 3 (TensorFlow) adapter: the only place polymod imports tensorflow and keras.

Parameters are ``keras.Variable`` objects (what ``compile``/``fit`` train); modules
read the ``tf.Variable`` inside each (the same storage), and the ops are TensorFlow's
own functions.
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

from polymod import memory as _memory  # noqa: E402
from polymod.backend import empty_batch_safe as _empty_batch_guard  # noqa: E402

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
    if hasattr(x, "numpy"):  # tensors and variables: numpy() is already a fresh copy
        out = x.numpy()
        return out if isinstance(out, np.ndarray) else np.array(out)  # 0-d gives a scalar
    return np.array(keras.ops.convert_to_numpy(x))


def dtype_of(x: Any) -> np.dtype:
    return np.dtype(tf.as_dtype(x.dtype).as_numpy_dtype)


def shape(x: Any) -> tuple:
    return tuple(x.shape)


def device_of(x: Any) -> Any:
    device = getattr(x, "device", "") or ""
    return None if "CPU" in device.upper() or not device else device


def _scope(device: Any) -> Any:
    return contextlib.nullcontext() if device is None else tf.device(device)


def _adopted(array: np.ndarray, device: Any, copy: bool = False) -> Any:
    """A tensor over ``array``'s own memory (the core hands over arrays it owns; with
    ``copy``, over an aligned copy), or None where TensorFlow should convert it itself.

    ``tf.Variable`` keeps such a tensor's buffer instead of copying it. For large arrays
    only: TensorFlow's own conversion of NumPy data copies twice at about a third of
    memcpy speed, which dominates moving a big model here.
    """
    if (device is not None or array.nbytes < _memory.ADOPT_MIN_BYTES
            or array.dtype.kind not in "fiu"):
        return None
    if copy or not _memory.is_aligned(array):
        array = _memory.aligned_copy(array)
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


def _variable(array: np.ndarray, trainable: bool, name: str | None, device: Any) -> Any:
    adopted = _adopted(array, device)
    if adopted is not None:  # keras.Variable takes a tf.Variable as it is
        inner = tf.Variable(adopted, trainable=trainable, name=name)
        return keras.Variable(inner, trainable=trainable, name=name, dtype=str(array.dtype))
    with _scope(device):
        return keras.Variable(array, trainable=trainable, name=name, dtype=str(array.dtype))


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    variable = _variable(array, trainable, name.replace("/", "."), device)
    # Forward reads the tf.Variable inside: an op converting a keras.Variable costs about
    # 3 us more per read (its autocast and stateless-scope checks, which polymod never uses).
    inner = variable.value
    return variable, inner if isinstance(inner, tf.Variable) else variable


def create_constant(array: np.ndarray, device: Any) -> Any:
    # a non-trainable variable, not a tensor: buffers change, and load_state_dict
    # writes constants in place (tapes do not watch non-trainable variables)
    return _variable(array, False, None, device)


def assign(target: Any, value: Any) -> None:
    """Writes ``value`` (NumPy data or a tensor of this backend) into ``target`` in place."""
    if isinstance(value, np.ndarray) and value.dtype == dtype_of(target):
        # one aligned copy that TensorFlow takes as it is, instead of its two slow ones;
        # a copy always: the variable may keep the buffer, and `value` is the caller's
        adopted = _adopted(value, device_of(target), copy=True)
        value = value if adopted is None else adopted
    target.assign(value)


def set_trainable(native: Any, flag: bool) -> None:
    native.trainable = flag


def is_trainable(native: Any, stored: bool) -> bool:
    """The framework's own flag (a user may freeze with ``variable.trainable = False``)."""
    return bool(native.trainable)


# -- autograd --------------------------------------------------------------------------------
def no_grad() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()  # TensorFlow records only inside a GradientTape


def value_and_grad(fn: Any, tensors: list) -> tuple:
    with tf.GradientTape() as tape:
        # TF watches the variables created trainable; one unfrozen later needs watch()
        # (about 8 us each, so not for all)
        tape.watch([t for t in tensors if not getattr(t, "trainable", True)])
        value = fn()
    # tensors are the tf.Variables inside the keras.Variables (given keras.Variables that
    # the value does not depend on, TF fails: "'str' object has no attribute '_type_enum'")
    grads = tape.gradient(value, tensors,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO) if tensors else []
    # a gather (embedding lookup) gives IndexedSlices: dense, like the other backends
    return value, [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                   for g in grads]


# -- ops ------------------------------------------------------------------------------------
def linear(x: Any, weight: Any, bias: Any) -> Any:
    rank = x.shape.rank
    if rank == 2:  # bias_add, as Keras' Dense: its gradient is one op, `+`'s is four
        out = tf.matmul(x, weight, transpose_b=True)
        return out if bias is None else tf.nn.bias_add(out, bias)
    # 1-D and batched N-D input, as torch's F.linear takes them
    out = tf.tensordot(x, weight, axes=[[rank - 1], [1]])
    return out if bias is None else out + bias


relu = tf.nn.relu
sigmoid = tf.math.sigmoid
tanh = tf.math.tanh
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


def matmul(a: Any, b: Any) -> Any:
    if len(a.shape) >= 2 and len(b.shape) >= 2:
        return tf.linalg.matmul(a, b)
    # 1-D operands (a vector product), as NumPy, torch and MXNet take them
    return tf.convert_to_tensor(tf.experimental.numpy.matmul(a, b))


def gelu(x: Any) -> Any:
    return tf.nn.gelu(x, approximate=False)


def _nan_rows(x: Any, out: Any, axis: int) -> Any:
    # TensorFlow's softmax keeps a row's other entries when one is NaN; PyTorch and
    # NumPy make the whole row NaN: do the same.
    has_nan = tf.reduce_any(tf.math.is_nan(x), axis=axis, keepdims=True)
    return tf.where(has_nan, tf.constant(np.nan, x.dtype), out)


def softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(x, tf.nn.softmax(x, axis=axis), axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(x, tf.nn.log_softmax(x, axis=axis), axis)


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
        handles = module._named_handles(("parameter", "buffer", "constant"))
        self.polymod_variables = [h.native for _, h in handles
                                  if isinstance(h.native, keras.Variable)]
        self.built = True

    def call(self, inputs: Any, training: Any = None) -> Any:
        module = self.polymod_module
        if training is not None and bool(training) is not module.training:
            module.train(bool(training))
        try:
            return module(inputs)
        except tf.errors.OperatorNotAllowedInGraphError as err:
            from polymod.errors import StateError

            raise StateError(
                f"{type(module).__name__} uses Python control flow on a tensor value (e.g. "
                f"`while ops.sum(X) > 1`), which Keras cannot trace into a graph inside "
                f"fit/evaluate/predict or tf.function. Compile with "
                f"model.compile(..., run_eagerly=True), or write the loop with tf.while_loop."
            ) from err


def native_twin(module: Any) -> PolymodModel:
    return PolymodModel(module)


def export_weights(source: Any) -> list[np.ndarray]:
    """A Keras model's weights in creation order, 2-D kernels transposed to (out, in)."""
    return [w.T.copy() if w.ndim == 2 else w for w in
            (np.asarray(v.numpy()) for v in source.weights)]


def cross_entropy(logits: Any, target: Any) -> Any:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(target, tf.int64), logits=logits))


# -- sequences (embedding, attention, recurrent layers) ------------------------------------
def take(x: Any, indices: Any, axis: int = 0) -> Any:
    return tf.gather(x, indices, axis=axis)


def embedding(indices: Any, weight: Any, padding_idx: Any = None) -> Any:
    out = tf.gather(weight, indices)
    if padding_idx is None:
        return out
    # PyTorch's padding_idx: that row gets no gradient
    pad = tf.expand_dims(tf.equal(indices, tf.cast(padding_idx, indices.dtype)), -1)
    return tf.where(pad, tf.stop_gradient(out), out)


def split(x: Any, sections: int, axis: int = 0) -> list:
    size = x.shape[axis]
    if size is not None and size % sections:
        raise ValueError(f"split: an axis of size {size} does not split into {sections} "
                         f"equal sections.")
    return tf.split(x, sections, axis=axis)


def masked_fill(x: Any, mask: Any, value: float) -> Any:
    return tf.where(mask, tf.constant(value, x.dtype), x)


def expand_dims(x: Any, axis: int) -> Any:
    return tf.expand_dims(x, axis)


def squeeze(x: Any, axis: int) -> Any:
    return tf.squeeze(x, axis)


stop_gradient = tf.stop_gradient


# -- layers: buffers, convolution, pooling, dropout, activations, losses --------------------
def create_buffer(array: np.ndarray, device: Any) -> Any:
    return _variable(array, False, None, device)  # a variable: running statistics change in place


def _dilate_kernel(w: Any, dilation: tuple) -> Any:
    """An HWIO kernel with zeros between its taps: a dilated conv as an undilated one."""
    for axis, d in enumerate(dilation):
        if d == 1:
            continue
        k = w.shape[axis]
        spread = tf.stack([w] + [tf.zeros_like(w)] * (d - 1), axis=axis + 1)
        new_shape = [int(n) for n in w.shape]
        new_shape[axis] = k * d
        w = tf.reshape(spread, new_shape)
        w = w[:(k - 1) * d + 1] if axis == 0 else w[:, :(k - 1) * d + 1]
    return w


def _conv2d_cpu_safe(x: Any, w: Any, stride: tuple, padding: tuple, dilation: tuple,
                     groups: int) -> Any:
    """NCHW conv built from ops whose gradients TensorFlow has on CPU (NHWC, ungrouped,
    undilated); used for the backward pass only."""
    x = tf.transpose(x, (0, 2, 3, 1))
    w = _dilate_kernel(w, dilation)
    pads = [[0, 0], list(padding[0]), list(padding[1]), [0, 0]]
    strides = [1, stride[0], stride[1], 1]
    if groups == 1:
        y = tf.nn.conv2d(x, w, strides, pads)
    else:
        y = tf.concat([tf.nn.conv2d(a, b, strides, pads) for a, b in
                       zip(tf.split(x, groups, axis=3), tf.split(w, groups, axis=3), strict=True)], axis=3)
    return tf.transpose(y, (0, 3, 1, 2))


def _conv2d(x: Any, w: Any, stride: tuple, padding: tuple, dilation: tuple, groups: int) -> Any:
    """Forward in NCHW (native on CPU, grouped and dilated too); TensorFlow's CPU kernels
    compute conv gradients only in NHWC without groups or dilation, so the backward
    pass goes through those."""
    pads = [[0, 0], [0, 0], list(padding[0]), list(padding[1])]
    nhwc_pads = [0, 0, *padding[0], *padding[1], 0, 0]
    strides = [1, 1, stride[0], stride[1]]
    plain = groups == 1 and dilation == (1, 1)

    @tf.custom_gradient
    def run(x: Any, w: Any) -> Any:
        y = tf.nn.conv2d(x, w, strides, pads, data_format="NCHW", dilations=[1, 1, *dilation])

        def grad(dy: Any) -> Any:
            if plain:
                x_t = tf.transpose(x, (0, 2, 3, 1))
                dy_t = tf.transpose(dy, (0, 2, 3, 1))
                nhwc = [1, stride[0], stride[1], 1]
                dx = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x_t), filter=w, out_backprop=dy_t, strides=nhwc,
                    padding="EXPLICIT", explicit_paddings=nhwc_pads)
                dw = tf.raw_ops.Conv2DBackpropFilter(
                    input=x_t, filter_sizes=tf.shape(w), out_backprop=dy_t, strides=nhwc,
                    padding="EXPLICIT", explicit_paddings=nhwc_pads)
                return tf.transpose(dx, (0, 3, 1, 2)), dw
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y2 = _conv2d_cpu_safe(x, w, stride, padding, dilation, groups)
            return tape.gradient(y2, [x, w], output_gradients=dy)

        return y, grad

    return run(x, w)


@_empty_batch_guard(lambda x: tf.zeros((1,) + tuple(x.shape[1:]), x.dtype),
                  lambda out: tf.zeros((0,) + tuple(out.shape[1:]), out.dtype))
def conv(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple, dilation: tuple,
         groups: int) -> Any:
    """N-d convolution (NC*), weight (out, in/groups, *kernel); ``padding`` = (lo, hi) pairs."""
    one_d = len(stride) == 1
    x = tf.convert_to_tensor(x)  # a variable read inside custom_gradient would need care
    if one_d:  # NCW as NCHW with H = 1
        x = tf.expand_dims(x, 2)
        weight = tf.expand_dims(weight, 2)
        stride, padding, dilation = (1, *stride), ((0, 0), *padding), (1, *dilation)
    w = tf.transpose(weight, (2, 3, 1, 0))  # (out, in, kh, kw) -> HWIO
    y = _conv2d(x, w, tuple(stride), tuple(tuple(p) for p in padding), tuple(dilation), groups)
    if bias is not None:
        y = tf.nn.bias_add(y, bias, data_format="NCHW")
    return tf.squeeze(y, 2) if one_d else y


def _pad_nchw(x: Any, padding: tuple, value: float) -> Any:
    if not any(padding):
        return x
    return tf.pad(x, [[0, 0], [0, 0], [padding[0]] * 2, [padding[1]] * 2],
                  constant_values=value)


def _nan_windows(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    """Which pooling windows hold a NaN (TensorFlow's max pool skips NaN; PyTorch's keeps it)."""
    nan = tf.cast(tf.math.is_nan(x), x.dtype)
    return tf.nn.avg_pool2d(_pad_nchw(nan, padding, 0.0), kernel, stride, "VALID",
                            data_format="NCHW") > 0


def max_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    # NHWC: TensorFlow's CPU max-pool gradient exists only in that layout
    xt = tf.transpose(_pad_nchw(x, padding, -np.inf), (0, 2, 3, 1))
    y = tf.transpose(tf.nn.max_pool2d(xt, kernel, stride, "VALID"), (0, 3, 1, 2))
    return tf.where(_nan_windows(x, kernel, stride, padding), tf.constant(np.nan, x.dtype), y)


def avg_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    return tf.nn.avg_pool2d(_pad_nchw(x, padding, 0.0), kernel, stride, "VALID",
                            data_format="NCHW")


def dropout(x: Any, p: float) -> Any:
    if not tf.executing_eagerly():  # tf.function / fit: a fresh mask each step, from TF's RNG
        keep = tf.random.uniform(tf.shape(x), dtype=x.dtype) >= p
        return x * (tf.cast(keep, x.dtype) * (1.0 / (1.0 - p)))
    from polymod.random import dropout_mask

    return x * tf.constant(dropout_mask(tuple(x.shape), p, dtype_of(x)))


silu = tf.nn.silu


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    return tf.nn.leaky_relu(x, alpha=negative_slope)


def bce_with_logits(x: Any, y: Any) -> Any:
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y, x.dtype), logits=x)


def cross_entropy_per_sample(logits: Any, target: Any) -> Any:
    if logits.shape.rank != 2:  # (N, C, d...) -> class axis last
        perm = [0, *range(2, logits.shape.rank), 1]
        logits = tf.transpose(logits, perm)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(target, tf.int64),
                                                          logits=logits)
