"""Tensors and storage: moving data in and out, creating parameters, writes.

JAX arrays are immutable: a parameter is its array (there is no parameter object),
and ``assign`` returns a new array, which the handle then points to.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .framework import ArrayImpl, jax, jnp, narrowed


def from_numpy(array: np.ndarray, device: Any = None) -> Any:
    dtype = narrowed(array.dtype)
    if dtype != array.dtype:  # 64-bit data without x64: converted here, on purpose
        array = array.astype(dtype)
    return jax.device_put(array, device) if device is not None else jnp.asarray(array)


def to_numpy(x: Any) -> np.ndarray:
    return np.array(x, copy=True)


def dtype_of(x: Any) -> np.dtype:
    return np.dtype(x.dtype)


def dtype_problem(dtype: np.dtype) -> str | None:
    if narrowed(dtype) != dtype:
        return ("JAX computes float64 only with x64 on: call jax.config.update("
                "'jax_enable_x64', True) before making arrays (without it every op, matmul "
                "included, works in float32)")
    return None


def shape(x: Any) -> tuple:
    return tuple(x.shape)


def device_of(x: Any) -> Any:
    if type(x) is not ArrayImpl:  # a tracer: no device of its own
        return None
    device = x.device
    return None if device.platform == "cpu" else device


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    value = from_numpy(array, device)
    return value, value  # no parameter object: the array is both


def create_constant(array: np.ndarray, device: Any) -> Any:
    return from_numpy(array, device)


def create_buffer(array: np.ndarray, device: Any) -> Any:
    return from_numpy(array, device)


def assign(target: Any, value: Any) -> Any:
    """Returns a new array with ``value`` in ``target``'s dtype and device (JAX arrays are
    immutable; the caller re-points the handle)."""
    if isinstance(value, np.ndarray):
        value = jnp.array(value, dtype=target.dtype)  # a copy: `value` is the caller's
    elif value.dtype != target.dtype:
        value = value.astype(target.dtype)
    if type(value) is ArrayImpl and type(target) is ArrayImpl and value.device != target.device:
        value = jax.device_put(value, target.device)
    return value


def set_trainable(native: Any, flag: bool) -> None:
    pass  # JAX arrays carry no such flag: the handle's own is the truth


def is_trainable(native: Any, stored: bool) -> bool:
    return stored
