"""``Module.to(dtype=...)``: the float dtype of a whole tree, and whether a backend computes it.

Only float handles change dtype; integer buffers (BatchNorm's ``num_batches_tracked``)
keep theirs. A bound handle gets new storage of its backend (through NumPy, one tensor
at a time, so the peak is the model in its new dtype plus one tensor).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import is_model_float
from ..errors import DTypeError
from ..handles import _by_value
from .tree import structure_changed


def check_backend_dtype(adapter: Any, dtype: np.dtype, model: Any) -> None:
    """Raises ``DTypeError`` if ``adapter``'s framework cannot compute ``model`` in ``dtype``."""
    if dtype.name == "float32":
        return
    problem = adapter.dtype_problem(dtype)
    if problem is not None:
        raise DTypeError(f"{type(model).__name__} cannot run in {dtype.name} on backend "
                         f"{adapter.NAME!r}: {problem}. Use another backend or dtype.",
                         module=model)


def cast_tree(root: Any, dtype: np.dtype) -> Any:
    """Stores every float handle under ``root`` in ``dtype``; sets each module's dtype."""
    bound = root.__dict__["_bound"]
    if bound is not None:
        check_backend_dtype(bound.adapter, dtype, root)
    for module in root.modules():
        module.__dict__["_dtype"] = dtype
    for _, handle in root.named_handles():
        if is_model_float(handle.dtype):
            cast_handle(handle, dtype)
    # new storage: what cached the old (the tree's handle lists, native twins, autograd's
    # parameter list) is made again when next asked
    structure_changed(root.__dict__)
    return root


def cast_handle(handle: Any, dtype: np.dtype) -> None:
    """Stores ``handle``'s values in ``dtype`` from now on: a bound handle gets new storage
    of its backend, which its modules' attributes then read; a lazy one is cast when drawn."""
    if dtype == handle.dtype:
        return
    handle.dtype = dtype
    if not handle.materialized:
        return
    if handle.adapter is None:
        handle._data = handle._data.astype(dtype)
        handle._owned = True
        handle.publish()
        return
    old = handle.current()
    array = handle.adapter.to_numpy(old).astype(dtype)
    handle._create_native(handle.adapter, array, handle._device)
    ref = _by_value.get(id(old))  # the old tensor's id may be reused once it is freed
    if ref is not None and ref() is handle:
        del _by_value[id(old)]
    handle.publish()


def with_dtype_argument(init: Any) -> Any:
    """Wraps a layer's ``__init__`` so that it takes ``dtype=`` (torch habit:
    ``nn.Linear(2, 3, dtype="bfloat16")``): the values are drawn as in float32, then cast."""
    import functools

    from ..dtypes import float_dtype

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, dtype: Any = None, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if dtype is not None:
            cast_tree(self, float_dtype(dtype))

    return __init__
