"""NumPy adapter: the forward-only reference backend (imports no framework).

Computes in float64 where float32 would round differently from the frameworks (conv,
GELU), then casts back; it has no autograd and no native twin.

Private framework internals used: none.
"""

from __future__ import annotations

import numpy as np

from polymod import adapter as _interface

from . import autograd, compiler, layers, ops, tensors, twin, updates

NAME = "numpy"
TENSOR_TYPES = (np.ndarray, np.generic)


def version() -> str:
    return np.__version__


_interface.assemble(globals(), tensors, autograd, ops, layers, twin, updates, compiler)
