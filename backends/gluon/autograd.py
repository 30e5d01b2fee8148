"""Gradients on the framework's own autograd."""

from __future__ import annotations

import ctypes
from typing import Any

from .framework import autograd, mnp, mx
from .inplace import recording_safe


def no_grad() -> Any:
    return autograd.pause()


def _fresh_grads(value: Any, tensors: list) -> list:
    """``mx.autograd.grad(value, tensors)`` without its per-array wrappers (a legacy
    NDArray, then a shallow copy into an np.ndarray: ~3 us a parameter)."""
    grads = ctypes.POINTER(mx.base.NDArrayHandle)()
    stypes = ctypes.POINTER(ctypes.c_int)()
    mx.base.check_call(mx.base._LIB.MXAutogradBackwardEx(
        1, mx.base.c_handle_array([value]), ctypes.c_void_p(0),
        len(tensors), mx.base.c_handle_array(tensors),
        ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(1),  # retain, create graph; train
        ctypes.byref(grads), ctypes.byref(stypes)))
    return [mnp.ndarray(ctypes.cast(grads[i], mx.base.NDArrayHandle))
            for i in range(len(tensors))]


# MXNet's words for a value with no recorded graph behind it
_NO_GRAPH = ("computational graph", "computation graph")


def value_and_grad(fn: Any, tensors: list) -> tuple:
    with recording_safe(), autograd.record():
        value, aux = fn()
    if not tensors:  # nothing trainable: MXNet refuses backward() on an unrecorded value
        return value, aux, []
    try:  # fresh gradient arrays, one engine op less per parameter than backward() + copies
        return value, aux, _fresh_grads(value, tensors)
    except mx.base.MXNetError as err:  # a parameter the value does not use: see below
        if "unreachable" not in str(err) and not any(w in str(err) for w in _NO_GRAPH):
            raise
    # backward() writes only the gradients of parameters in the graph (the failed grad()
    # left it intact): clear the others' first, or they keep an earlier call's gradient
    stale = [t.grad.as_nd_ndarray() for t in tensors if t.grad is not None]
    if stale:
        mx.nd.reset_arrays(*stale, num_arrays=len(stale))  # one op for all
    try:
        value.backward()
    except mx.base.MXNetError as err:  # a value that depends on no parameter: zeros
        if not any(w in str(err) for w in _NO_GRAPH):
            raise
        return value, aux, [mnp.zeros_like(t) for t in tensors]
    return value, aux, [t.grad.copy() if t.grad is not None else mnp.zeros_like(t)
                        for t in tensors]
