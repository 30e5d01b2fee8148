"""SGD with momentum, dampening, Nesterov and weight decay: torch.optim.SGD's rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..module import Module
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, torch.optim.SGD's arguments, defaults and numbers.

    With ``momentum`` the buffer starts as the first gradient, then ``buf = momentum *
    buf + (1 - dampening) * grad``; ``nesterov`` steps along ``grad + momentum * buf``;
    ``weight_decay`` adds ``weight_decay * param`` to the gradient.

    Args:
        net: the polymod model whose parameters it updates.
        lr: learning rate.
        momentum: momentum factor (0: plain SGD).
        dampening: dampening of the momentum.
        weight_decay: L2 penalty added to the gradient.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        param_groups: optional list of groups, e.g. ``[{"params": ["0.bias"],
            "weight_decay": 0.0}, {}]``; see ``Optimizer.add_param_group``.

    Example:
        >>> import polymod as pm
        >>> from polymod import nn, ops
        >>> net = nn.Linear(3, 1).to("torch")
        >>> opt = pm.optim.SGD(net, lr=0.1, momentum=0.9)
        >>> loss, grads = pm.value_and_grad(lambda m, X: ops.sum(m(X)))(net, pm.ones(2, 3))
        >>> opt.step(grads)
        >>> sorted(opt.state)
        ['bias', 'weight']
    """

    STATE = ("momentum_buffer",)
    TORCH_FLAGS = {"maximize": False, "foreach": None, "differentiable": False, "fused": None}

    def __init__(self, net: Module, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, param_groups: Iterable[Mapping[str, Any]] | None = None):
        super().__init__(net, {"lr": lr, "momentum": momentum, "dampening": dampening,
                               "weight_decay": weight_decay, "nesterov": nesterov},
                         param_groups)

    def _check(self, group: dict[str, Any], index: int) -> None:
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"Nesterov momentum requires momentum > 0 and dampening 0; "
                             f"received momentum={group['momentum']}, dampening="
                             f"{group['dampening']} (param_groups[{index}]).")

    def _update(self, adapter: Any, group: dict[str, Any], names: list[str],
                handles: list, grads: list) -> None:
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        params = [h.value for h in handles]
        if momentum == 0:  # weight decay folded in: p <- (1 - lr*wd) * p - lr * g
            params = adapter.axpby_(params, 1.0 - lr * wd, grads, -lr) or params
            self._repoint(handles, params)
            return
        if wd:
            grads = [g + p * wd for g, p in zip(grads, params, strict=True)]
        states = [self.state.setdefault(name, {}) for name in names]
        fresh = [i for i, s in enumerate(states) if "momentum_buffer" not in s]
        for i in fresh:
            states[i]["momentum_buffer"] = self._zeros(adapter, handles[i])
        bufs = [s["momentum_buffer"] for s in states]
        # the first buffer is the gradient itself (0 * zeros + g), later ones are averaged
        new = set(fresh)
        for first, a, b in ((True, 0.0, 1.0), (False, momentum, 1.0 - group["dampening"])):
            idx = [i for i in range(len(bufs)) if (i in new) is first]
            if not idx:
                continue
            out = adapter.axpby_([bufs[i] for i in idx], a, [grads[i] for i in idx], b)
            for i, buf in zip(idx, out or (), strict=False):
                bufs[i] = states[i]["momentum_buffer"] = buf
        step = ([g + b * momentum for g, b in zip(grads, bufs, strict=True)]
                if group["nesterov"] else bufs)
        params = adapter.axpby_(params, 1.0, step, -lr) or params
        self._repoint(handles, params)
