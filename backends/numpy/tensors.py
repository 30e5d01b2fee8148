"""Tensors and storage: moving data in and out, creating parameters, in-place writes."""

from __future__ import annotations

from typing import Any

import numpy as np


def from_numpy(array: np.ndarray, device: Any = None) -> np.ndarray:
    return array


def to_numpy(x: Any) -> np.ndarray:
    return np.array(x, copy=True)


def dtype_of(x: Any) -> np.dtype:
    return x.dtype


def dtype_problem(dtype: np.dtype) -> None:
    return None  # bfloat16 through ml_dtypes (matmul computes in float32, cast back)


def shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def device_of(x: Any) -> None:
    return None


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    return array, array


def create_constant(array: np.ndarray, device: Any) -> np.ndarray:
    return array


def assign(target: np.ndarray, value: Any) -> None:
    """Writes ``value`` into ``target`` in place."""
    target[...] = value


def set_trainable(native: Any, flag: bool) -> None:
    pass


def is_trainable(native: Any, stored: bool) -> bool:
    return stored  # NumPy arrays carry no such flag


def create_buffer(array: np.ndarray, device: Any) -> np.ndarray:
    return array
