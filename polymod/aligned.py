"""Host-memory helpers the adapters share: copies that a framework can adopt without copying."""

from __future__ import annotations

import numpy as np

ALIGNMENT = 64  # bytes: what TensorFlow (Eigen) requires of a buffer it takes over
ADOPT_MIN_BYTES = 1 << 20  # below this, a framework's own copy costs less than the bookkeeping


def aligned_copy(array: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``array`` whose data starts on a 64-byte boundary.

    NumPy aligns to 16 bytes; TensorFlow adopts only 64-byte aligned memory (through
    DLPack) and otherwise copies twice, slowly. One aligned copy costs one ``memcpy``.

    Example:
        >>> import numpy as np
        >>> from polymod.aligned import aligned_copy
        >>> copy = aligned_copy(np.arange(6.0).reshape(2, 3))
        >>> copy.ctypes.data % 64, copy.shape, copy.flags.c_contiguous
        (0, (2, 3), True)
    """
    out = aligned_empty(array.shape, array.dtype)
    np.copyto(out, array, casting="no")
    return out


def aligned_empty(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def is_aligned(array: np.ndarray) -> bool:
    """Whether ``array`` is C-contiguous and starts on a 64-byte boundary."""
    return array.flags.c_contiguous and array.ctypes.data % ALIGNMENT == 0
