"""Losses, as ``torch.nn.functional``: cross-entropy, MSE, binary cross-entropy with logits."""

from __future__ import annotations

from typing import Any

from ._dispatch import like, of


def _reduce(adapter: Any, losses: Any, reduction: str) -> Any:
    if reduction == "mean":
        return adapter.mean(losses, None, False)
    if reduction == "sum":
        return adapter.sum(losses, None, False)
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; received {reduction!r}.")


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Any:
    """Cross-entropy of ``logits`` (N, C[, d...]) against integer class indices ``target``
    (N[, d...]) or class probabilities (the logits' shape), as ``F.cross_entropy``.

    ``target`` may be a NumPy array; it is moved to the logits' backend.
    """
    adapter = of(logits)
    target = like(target, logits, adapter)
    if adapter.dtype_of(target).kind == "f":  # class probabilities
        if adapter.dtype_of(target) != adapter.dtype_of(logits):
            target = adapter.astype(target, adapter.dtype_of(logits))
        losses = -adapter.sum(target * adapter.log_softmax(logits, 1), 1, False)
        return _reduce(adapter, losses, reduction)
    if reduction == "mean" and len(adapter.shape(logits)) == 2:
        return adapter.cross_entropy(logits, target)
    return _reduce(adapter, adapter.cross_entropy_per_sample(logits, target), reduction)


def mse_loss(prediction: Any, target: Any, reduction: str = "mean") -> Any:
    """Squared error, averaged (``reduction='mean'``), summed or elementwise (``'none'``)."""
    adapter = of(prediction)
    diff = prediction - like(target, prediction, adapter)
    return _reduce(adapter, diff * diff, reduction)


def binary_cross_entropy_with_logits(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Binary cross-entropy of logits against targets in [0, 1], computed stably
    (``max(x, 0) - x * y + log(1 + exp(-|x|))``), as ``F.binary_cross_entropy_with_logits``."""
    adapter = of(input)
    target = like(target, input, adapter)
    if adapter.dtype_of(target) != adapter.dtype_of(input):
        target = adapter.astype(target, adapter.dtype_of(input))
    return _reduce(adapter, adapter.bce_with_logits(input, target), reduction)
