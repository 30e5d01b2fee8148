"""Tensors and storage: moving data in and out, creating parameters, in-place writes."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from polymod import aligned as _memory
from polymod.errors import DTypeError

from .framework import autograd, gluon, mnp, mx


def _context(device: Any) -> Any:
    return device if device is not None else mx.cpu()


def from_numpy(array: np.ndarray, device: Any = None) -> Any:
    if array.dtype.name == "bfloat16":
        raise DTypeError(f"Backend 'gluon' cannot hold bfloat16 data: {dtype_problem(array.dtype)}.")
    return mnp.array(array, dtype=array.dtype, ctx=_context(device))


def to_numpy(x: Any) -> np.ndarray:
    if x.size * np.dtype(x.dtype).itemsize < _memory.ADOPT_MIN_BYTES:
        return x.asnumpy()  # already a fresh copy
    # what asnumpy does, into aligned memory: the same one copy, and TensorFlow can then
    # adopt the array (.to("keras")) instead of copying it twice
    out = _memory.aligned_empty(x.shape, x.dtype)
    mx.base.check_call(mx.base._LIB.MXNDArraySyncCopyToCPU(
        x.handle, out.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(out.size)))
    return out


def dtype_of(x: Any) -> np.dtype:
    return np.dtype(x.dtype)


def dtype_problem(dtype: np.dtype) -> str | None:
    if dtype.name == "float16":
        return ("MXNet 1.9 on the CPU has no float16 fully_connected ('only supported by "
                "CuDNN'), and the error only comes out later, asynchronously")
    if dtype.name == "bfloat16":
        return ("MXNet 1.9 has no bfloat16 NumPy arrays (mx.np.array refuses ml_dtypes' "
                "bfloat16) and computes bfloat16 only in a few oneDNN ops")
    return None


def shape(x: Any) -> tuple:
    return tuple(x.shape)


def device_of(x: Any) -> Any:
    return None if x.ctx.device_type == "cpu" else x.ctx


def _adopt(array: np.ndarray, device: Any) -> Any:
    """An ndarray over ``array``'s own memory (the core hands over arrays it owns)."""
    if device is not None or not array.flags.c_contiguous or array.dtype.kind not in "fiu":
        return from_numpy(array, device)
    return mx.nd.from_numpy(array, zero_copy=True).as_np_ndarray()


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    param = gluon.Parameter(name, shape=array.shape, dtype=array.dtype,
                            grad_req="write" if trainable else "null")
    # Parameter._init_impl would copy the data once more (copyto): set it up directly.
    ctx = _context(device)
    param._ctx_list = [ctx]
    param._ctx_map = [[], []]
    param._ctx_map[ctx.device_typeid & 1] = [None] * ctx.device_id + [0]
    param._data = [_adopt(array, device)]
    param._init_grad()
    return param, param._data[0]


def create_constant(array: np.ndarray, device: Any) -> Any:
    return from_numpy(array, device)


_MKLDNN_LAYOUT = "MKLDNN data"


def assign(target: Any, value: Any) -> None:
    """Writes ``value`` (NumPy data or a tensor of this backend) into ``target`` in place."""
    if isinstance(value, np.ndarray):
        if target.ctx.device_type == "cpu" and value.shape == target.shape:
            try:
                target._sync_copyfrom(value)  # what `nd[:] = numpy` runs: one copy, no engine op
                return
            except mx.base.MXNetError as err:
                # After an eval-mode MKLDNN conv its weight holds MKLDNN's own layout, which
                # the synchronous copy refuses ("can't generate TBlob for MKLDNN data"); the
                # engine's copy below writes it (checked before anything is written).
                if _MKLDNN_LAYOUT not in str(err):
                    raise
        value = mnp.array(value, dtype=target.dtype, ctx=target.ctx)
    with autograd.pause():
        target[() if target.ndim == 0 else ...] = value  # 0-d: MXNet takes only ()


def set_trainable(native: Any, flag: bool) -> None:
    native.grad_req = "write" if flag else "null"


def is_trainable(native: Any, stored: bool) -> bool:
    """The framework's own flag (a user may freeze with ``grad_req = 'null'``)."""
    return native.grad_req != "null"


def create_buffer(array: np.ndarray, device: Any) -> Any:
    return from_numpy(array, device)
