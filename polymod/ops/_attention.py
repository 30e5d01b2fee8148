"""``scaled_dot_product_attention``, PyTorch's semantics, written once from the other ops."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._dispatch import dispatch
from ._layers import dropout


def scaled_dot_product_attention(q: Any, k: Any, v: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None) -> Any:
    """``softmax(q @ k^T * scale + bias) @ v`` over the last two axes, as
    ``F.scaled_dot_product_attention``.

    ``q`` is (..., L, E), ``k`` (..., S, E), ``v`` (..., S, Ev); ``scale`` defaults to
    ``1 / sqrt(E)``. ``attn_mask`` broadcasts to (..., L, S): a bool mask keeps the
    positions where it is True, a float mask is added to the scores. ``is_causal``
    masks the positions above the diagonal (top-left aligned). A row with every
    position masked gives zeros (PyTorch 2.5+), with zero gradients. Dropout on the
    attention weights (``dropout_p > 0``) draws its mask from polymod's generator.
    Without dropout, a framework's fused kernel runs where it has one (PyTorch's);
    elsewhere it is composed from ``matmul``, ``softmax`` and ``where``.

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> q = pm.rand(2, 4, 8, backend="numpy")
        >>> ops.scaled_dot_product_attention(q, q, q, is_causal=True).shape
        (2, 4, 8)
    """
    adapter, (q, k, v) = dispatch(q, k, v)
    q_shape, k_shape = adapter.shape(q), adapter.shape(k)
    ndim = len(q_shape)
    if ndim < 2 or len(k_shape) != ndim:
        raise ValueError(f"ops.scaled_dot_product_attention expects q (..., L, E) and k "
                         f"(..., S, E) of the same rank; received {tuple(q_shape)} and "
                         f"{tuple(k_shape)}.")
    if scale is None:
        scale = 1.0 / math.sqrt(q_shape[-1])
    if is_causal and attn_mask is not None:
        raise ValueError("ops.scaled_dot_product_attention: give attn_mask or is_causal=True, "
                         "not both (as PyTorch).")
    if type(attn_mask) is np.ndarray:
        attn_mask = adapter.from_numpy(attn_mask, adapter.device_of(q))
    if not dropout_p:
        fused = adapter.FUSED.get("scaled_dot_product_attention")
        if fused is not None:
            return fused(q, k, v, attn_mask, float(scale), bool(is_causal))
    swap = tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)
    scores = adapter.matmul(q, adapter.permute_dims(k, swap)) * float(scale)
    if is_causal:
        keep = np.tril(np.ones((q_shape[-2], k_shape[-2]), bool))
        attn_mask = adapter.from_numpy(keep, adapter.device_of(q))
    if attn_mask is None:
        weights = adapter.softmax(scores, -1)
    else:
        if adapter.dtype_of(attn_mask).kind == "b":
            bias = adapter.where(attn_mask, 0.0, -math.inf)
            if adapter.dtype_of(bias) != adapter.dtype_of(scores):
                bias = adapter.astype(bias, adapter.dtype_of(scores))
        else:
            bias = attn_mask
        # A row masked everywhere would be softmax(-inf...) = NaN; PyTorch gives 0 there
        # (and no NaN gradient): compute that row from a zero bias, then select 0.
        dead = adapter.max(bias, -1, True) == -math.inf
        weights = adapter.softmax(scores + adapter.where(dead, 0.0, bias), -1)
        weights = adapter.where(dead, 0.0, weights)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p)
    return adapter.matmul(weights, v)
