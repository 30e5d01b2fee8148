"""Functions that converted models call where ``polymod.ops`` has no single op: each is
built from ``polymod.ops`` and the registry only, so it runs on every backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import registry

#: shapes remembered per function of a model before the memo starts again
MEMO_LIMIT = 32
_MEMO = "shape_memo"  # an entry of the module's caches (never copied or pickled)
_NUMPY_LIKE = np.zeros(0, np.float32)  # places the values on the NumPy reference


def _known(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_known(v) for v in value)
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _keeps_all(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == np.bool_ and bool(value.all())


def shape_memo(module: Any, name: str, fn: Callable[..., tuple], like: Any, *sizes: Any,
               masks: tuple[int, ...] = ()) -> tuple:
    """``fn(like, *sizes)``: the steps of a converted forward that depend only on sizes
    (``polymod.convert.memo``), computed once per ``sizes`` on the NumPy reference and
    kept as NumPy arrays on ``module``; each call gets fresh tensors of ``like``'s backend
    and device. Where a size is unknown (None in a symbolic graph), ``fn`` runs on the
    live tensors.

    The results at positions ``masks`` are attention masks: one that is boolean and
    keeps every position becomes None (no mask: the same numbers, fewer operations).

    Example:
        >>> import numpy as np, polymod as pm
        >>> from polymod import ops
        >>> from polymod.convert import helpers
        >>> net = pm.nn.Identity()
        >>> steps = lambda like, n: (ops.arange(n, like=like) * 2,)
        >>> helpers.shape_memo(net, "steps", steps, np.zeros(3), 3)[0].tolist()
        [0, 2, 4]
    """
    if not _known(sizes):
        return tuple(fn(like, *sizes))
    cache = module.__dict__["_cache"]
    memo = cache.get(_MEMO)
    if memo is None:
        memo = cache[_MEMO] = {}
    key = (name, sizes)
    values = memo.get(key)
    if values is None:
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        values = tuple(fn(_NUMPY_LIKE, *sizes))
        values = memo[key] = tuple(None if k in masks and _keeps_all(v) else v
                                   for k, v in enumerate(values))
    adapter = registry.adapter_of(like)
    device = adapter.device_of(like)
    return tuple(adapter.from_numpy(np.array(v), device)
                 if isinstance(v, (np.ndarray, np.generic)) else v for v in values)


__all__ = ["shape_memo", "MEMO_LIMIT"]
