"""Tensors and storage: moving data in and out, creating parameters, in-place writes."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from polymod import aligned as _memory

from .framework import keras, tf


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


def dtype_problem(dtype: np.dtype) -> None:
    return None  # float64 conv runs in NHWC (layers._conv2d)


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


def assign(target: Any, value: Any) -> Any:
    """Writes ``value`` (NumPy data or a tensor of this backend) into ``target`` in place;
    a ``tf.Tensor`` target (immutable: one swapped in by ``pm.functional_call``) gets a
    new tensor instead, returned."""
    if isinstance(target, tf.Tensor):
        return tf.cast(value, target.dtype)
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


def create_buffer(array: np.ndarray, device: Any) -> Any:
    return _variable(array, False, None, device)  # a variable: running statistics change in place
