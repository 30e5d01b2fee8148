"""In-place operators on recorded arrays, while a polymod model records.

MXNet's autograd refuses in-place writes to arrays in the recorded graph (``X /= 2``
in the chapter's ``FixedHiddenMLP``), where torch (on non-leaf tensors) and TensorFlow
(which rebinds the name) accept them. While a polymod model runs under recording,
``mx.np.ndarray``'s in-place operators fall back to the out-of-place ones when
recording: Python then rebinds the name, as it does for TF tensors.

The operators are replaced only inside ``recording_safe()`` (entered by
``value_and_grad`` and by the native twin's ``forward``), and restored when the last
such block exits, so MXNet code outside polymod keeps MXNet's own behaviour.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .framework import autograd, mnp

_OPS = ("add", "sub", "mul", "truediv", "mod", "pow")
_ORIGINAL = {op: mnp.ndarray.__dict__[f"__i{op}__"] for op in _OPS
             if f"__i{op}__" in mnp.ndarray.__dict__}
_lock = threading.Lock()
_depth = 0


def _out_of_place_when_recording(inplace: Callable, outplace: Callable) -> Callable:
    def method(self: Any, other: Any) -> Any:
        if autograd.is_recording():
            return outplace(self, other)
        return inplace(self, other)

    method.__name__ = inplace.__name__
    method.__doc__ = inplace.__doc__
    return method


_PATCHED = {op: _out_of_place_when_recording(original, getattr(mnp.ndarray, f"__{op}__"))
            for op, original in _ORIGINAL.items()}


@contextlib.contextmanager
def recording_safe() -> Iterator[None]:
    """Inside the block, ``x /= 2`` on a recorded array rebinds ``x`` instead of failing."""
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1:
            for op, method in _PATCHED.items():
                setattr(mnp.ndarray, f"__i{op}__", method)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for op, method in _ORIGINAL.items():
                    setattr(mnp.ndarray, f"__i{op}__", method)
