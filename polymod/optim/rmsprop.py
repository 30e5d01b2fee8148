"""RMSprop (centered and momentum optional): torch.optim.RMSprop's rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..module import Module
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop, torch.optim.RMSprop's arguments, defaults and numbers.

    ``v = alpha*v + (1-alpha)*g*g``; the step is ``lr * g / (sqrt(v) + eps)`` (eps outside
    the root, as torch; Keras and MXNet put it inside). ``centered`` subtracts the
    squared running mean of ``g`` from ``v``; ``momentum`` accumulates the steps in a
    buffer.

    Args:
        net: the polymod model whose parameters it updates.
        lr: learning rate.
        alpha: smoothing constant.
        eps: added to the denominator.
        weight_decay: L2 penalty added to the gradient.
        momentum: momentum factor.
        centered: normalise by an estimate of the gradient's variance.
        param_groups: optional list of groups; see ``Optimizer.add_param_group``.

    Example:
        >>> import polymod as pm
        >>> opt = pm.optim.RMSprop(pm.nn.Linear(3, 1), lr=0.01, centered=True)
        >>> opt.param_groups[0]["alpha"]
        0.99
    """

    STATE = ("square_avg", "momentum_buffer", "grad_avg")
    TORCH_FLAGS = {"capturable": False, "foreach": None, "maximize": False,
                   "differentiable": False}

    def __init__(self, net: Module, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 param_groups: Iterable[Mapping[str, Any]] | None = None):
        super().__init__(net, {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                               "centered": centered, "weight_decay": weight_decay},
                         param_groups)

    def _update(self, adapter: Any, group: dict[str, Any], names: list[str],
                handles: list, grads: list) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        wd, momentum, centered = group["weight_decay"], group["momentum"], group["centered"]
        params = [h.value for h in handles]
        if wd:
            grads = [g + p * wd for g, p in zip(grads, params, strict=True)]
        states = []
        for name, handle in zip(names, handles, strict=True):
            state = self.state.get(name)
            if state is None:
                state = self.state[name] = {"step": 0,
                                            "square_avg": self._zeros(adapter, handle)}
            for key, wanted in (("momentum_buffer", momentum > 0), ("grad_avg", centered)):
                if wanted and key not in state:
                    state[key] = self._zeros(adapter, handle)
            state["step"] += 1
            states.append(state)
        squares = self._keep(states, "square_avg", lambda xs: adapter.addcmul_(
            xs, alpha, grads, grads, 1.0 - alpha))
        if centered:
            means = self._keep(states, "grad_avg", lambda xs: adapter.axpby_(
                xs, alpha, grads, 1.0 - alpha))
            squares = [s - m * m for s, m in zip(squares, means, strict=True)]
        if momentum > 0:
            bufs = self._keep(states, "momentum_buffer", lambda xs: adapter.addcdiv_sqrt_(
                xs, momentum, grads, squares, 1.0, eps, 1.0))
            params = adapter.axpby_(params, 1.0, bufs, -lr) or params
        else:
            params = adapter.addcdiv_sqrt_(params, 1.0, grads, squares, 1.0, eps, -lr) or params
        self._repoint(handles, params)

    @staticmethod
    def _keep(states: list[dict], key: str, update: Any) -> list:
        """Runs ``update`` on the states' ``key`` tensors and keeps what it returns."""
        xs = [s[key] for s in states]
        out = update(xs)
        if out is not None:
            for s, x in zip(states, out, strict=True):
                s[key] = x
            return out
        return xs
