"""Dropout with masks from polymod's seeded generator.

In training mode each call draws its mask from ``polymod.random.generator()`` (the
generator ``pm.seed`` seeds), so a seeded training step zeroes the same elements on
every backend. Kept elements are scaled by ``1 / (1 - p)``; evaluation mode is the
identity. Under a framework's graph mode (``tf.function`` and Keras ``fit``,
``torch.compile``) a mask drawn once while tracing would be reused by every step:
there the mask comes from the framework's own random generator instead, fresh each
step, and no longer matches across backends.
"""

from __future__ import annotations

from typing import Any

from ..module import Module


class Dropout(Module):
    """Zeroes each element with probability ``p`` in training mode (PyTorch's Dropout).

    Example:
        >>> import polymod as pm
        >>> drop = pm.nn.Dropout(0.5)
        >>> pm.seed(0)
        >>> drop(pm.ones(2, 4, backend="numpy")).tolist()
        [[2.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]]
        >>> drop.eval()(pm.ones(1, 2, backend="numpy")).tolist()
        [[1.0, 1.0]]
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability p must be a number in [0, 1]; received "
                             f"p={p!r}.")
        self.p = float(p)

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"dropout": adapter.dropout}

    def forward(self, X: Any) -> Any:
        if not self.training or self.p == 0.0:
            return X
        if self.p == 1.0:
            return X * 0.0
        return self._bound.dropout(X, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
