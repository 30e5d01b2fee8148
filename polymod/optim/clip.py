"""Gradient clipping that returns new gradients (TensorFlow's tensors are immutable).

The same numbers as ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``, written
with ``polymod.ops`` so they run on every backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .. import ops
from ..errors import BackendTypeError


def _check(grads: Any, fn: str) -> None:
    if not isinstance(grads, Mapping):
        raise BackendTypeError(f"pm.optim.{fn} expects the gradients as a dict {{parameter "
                               f"name: tensor}}, what pm.value_and_grad returns; received "
                               f"{type(grads).__qualname__}.")


def clip_grad_norm(grads: Mapping[str, Any], max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False) -> tuple[dict[str, Any], Any]:
    """Scales the gradients so that their total norm is at most ``max_norm``.

    The norm is taken over all gradients together, as if concatenated into one vector;
    the gradients are multiplied by ``min(1, max_norm / (total_norm + 1e-6))``, as
    torch's ``clip_grad_norm_`` does.

    Args:
        grads: ``{parameter name: native gradient}``, as ``pm.value_and_grad`` returns.
        max_norm: the largest total norm allowed.
        norm_type: the p of the p-norm (``float("inf")`` for the largest magnitude).
        error_if_nonfinite: raise if the total norm is NaN or infinite.

    Returns:
        ``(new gradients, total_norm)``: a new dict (the input is left unchanged) and the
        total norm before clipping, a 0-d native tensor.

    Raises:
        RuntimeError: with ``error_if_nonfinite``, a NaN or infinite total norm.

    Example:
        >>> import polymod as pm
        >>> grads = {"w": pm.asarray([3.0, 4.0], backend="numpy")}
        >>> clipped, norm = pm.optim.clip_grad_norm(grads, max_norm=1.0)
        >>> float(norm), [round(float(v), 4) for v in clipped["w"]]
        (5.0, [0.6, 0.8])
    """
    _check(grads, "clip_grad_norm")
    if not grads:
        return {}, 0.0
    norm_type = float(norm_type)
    tensors = list(grads.values())
    if math.isinf(norm_type):
        total = ops.max(ops.stack([ops.max(ops.abs(g)) for g in tensors]))
    else:
        norms = [_norm(g, norm_type) for g in tensors]
        total = _norm(ops.stack(norms), norm_type)
    if error_if_nonfinite and not math.isfinite(float(total)):
        raise RuntimeError(f"The total norm of order {norm_type} of the gradients is "
                           f"{float(total)}, so they cannot be clipped. Set "
                           f"error_if_nonfinite=False to clip anyway.")
    scale = ops.minimum(max_norm / (total + 1e-6), 1.0)
    return {name: g * scale for name, g in grads.items()}, total


def _norm(x: Any, p: float) -> Any:
    if p == 2.0:
        return ops.sqrt(ops.sum(x * x))
    if p == 1.0:
        return ops.sum(ops.abs(x))
    return ops.sum(ops.abs(x) ** p) ** (1.0 / p)


def clip_grad_value(grads: Mapping[str, Any], clip_value: float) -> dict[str, Any]:
    """Clamps every gradient element into ``[-clip_value, clip_value]``.

    Returns:
        A new dict of gradients (the input is left unchanged).

    Example:
        >>> import polymod as pm
        >>> grads = {"w": pm.asarray([-3.0, 0.5], backend="numpy")}
        >>> pm.optim.clip_grad_value(grads, 1.0)["w"]
        array([-1. ,  0.5], dtype=float32)
    """
    _check(grads, "clip_grad_value")
    clip_value = float(clip_value)
    return {name: ops.maximum(ops.minimum(g, clip_value), -clip_value)
            for name, g in grads.items()}
