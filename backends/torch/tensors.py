"""Tensors and storage: moving data in and out, creating parameters, in-place writes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from polymod import aligned as _memory


def from_numpy(array: np.ndarray, device: Any = None) -> torch.Tensor:
    if torch.compiler.is_compiling():  # dynamo traces NumPy as torch, but not `.flags`
        tensor = torch.as_tensor(array)
    else:
        # not np.ascontiguousarray: it turns a 0-d array into a 1-d one
        array = array if array.flags.c_contiguous else array.copy()
        if array.dtype.name == "bfloat16":  # ml_dtypes' bfloat16: the same bits, no copy
            tensor = torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
        else:
            tensor = torch.from_numpy(array)
    return tensor if device is None else tensor.to(device)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    if x.dtype == torch.bfloat16:
        array = x.detach().cpu().view(torch.int16).numpy().view(dtype_of(x))
    else:
        array = x.detach().cpu().numpy()
    # large ones aligned: the same one copy, and TensorFlow can then adopt it (.to("keras"))
    if array.nbytes >= _memory.ADOPT_MIN_BYTES:
        return _memory.aligned_copy(array)
    return array.copy()


# filled up front for NumPy's dtypes: a first entry written while torch.compile traces
# would be a side effect holding a NumPy dtype, which dynamo cannot replay (a graph break)
_DTYPES: dict[torch.dtype, np.dtype] = {
    getattr(torch, name): np.dtype(name) for name in (
        "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
        "complex64", "complex128")}


def dtype_of(x: torch.Tensor) -> np.dtype:
    try:
        return _DTYPES[x.dtype]
    except KeyError:
        name = str(x.dtype).removeprefix("torch.")
        if name == "bfloat16":  # NumPy knows it by name once ml_dtypes is loaded
            import ml_dtypes  # noqa: F401 -- installed with TensorFlow and JAX
        return _DTYPES.setdefault(x.dtype, np.dtype(name))


def dtype_problem(dtype: np.dtype) -> None:
    return None


def shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def device_of(x: torch.Tensor) -> Any:
    return None if x.device.type == "cpu" else x.device


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    param = torch.nn.Parameter(from_numpy(array, device), requires_grad=trainable)
    return param, param


def create_constant(array: np.ndarray, device: Any) -> torch.Tensor:
    return from_numpy(array, device)


def assign(target: torch.Tensor, value: Any) -> None:
    """Writes ``value`` (NumPy data or a tensor of this backend) into ``target`` in place."""
    if isinstance(value, np.ndarray):  # not ascontiguousarray: it makes 0-d arrays 1-d
        value = from_numpy(np.asarray(value, order="C"))  # NumPy 2: no copy=False
    with torch.no_grad():
        target.copy_(value)


def set_trainable(native: torch.Tensor, flag: bool) -> None:
    native.requires_grad_(flag)


def is_trainable(native: torch.Tensor, stored: bool) -> bool:
    """The framework's own flag (a user may freeze with ``requires_grad_(False)``)."""
    return native.requires_grad


def create_buffer(array: np.ndarray, device: Any) -> torch.Tensor:
    return from_numpy(array, device)
