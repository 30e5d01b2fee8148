"""Loss modules over ``polymod.ops`` (PyTorch's names, arguments and reductions)."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..module import Module

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}; received {reduction!r}.")
        self.reduction = reduction

    accepts_integer_input = True  # targets may be class indices

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits (N, C[, d...]) against class indices (N[, d...]) or class
    probabilities (same shape as the logits), as ``torch.nn.CrossEntropyLoss``.

    Example:
        >>> import numpy as np
        >>> import polymod as pm
        >>> loss = pm.nn.CrossEntropyLoss()
        >>> float(loss(pm.zeros(2, 4, backend="numpy"), np.array([0, 3])))  # log(4)
        1.3862943...
    """

    def forward(self, input: Any, target: Any) -> Any:
        return ops.cross_entropy(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean (or summed) squared error, as ``torch.nn.MSELoss``.

    Example:
        >>> import polymod as pm
        >>> float(pm.nn.MSELoss()(pm.ones(3, backend="numpy"), pm.zeros(3, backend="numpy")))
        1.0
    """

    def forward(self, input: Any, target: Any) -> Any:
        return ops.mse_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (numerically stable), as
    ``torch.nn.BCEWithLogitsLoss``.

    Example:
        >>> import polymod as pm
        >>> loss = pm.nn.BCEWithLogitsLoss()
        >>> round(float(loss(pm.zeros(2, backend="numpy"), pm.ones(2, backend="numpy"))), 4)
        0.6931
    """

    def forward(self, input: Any, target: Any) -> Any:
        return ops.binary_cross_entropy_with_logits(input, target, reduction=self.reduction)
