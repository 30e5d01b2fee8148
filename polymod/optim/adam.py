"""Adam and AdamW (AMSGrad optional): torch.optim.Adam's and AdamW's rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import ops
from ..module import Module
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam, torch.optim.Adam's arguments, defaults and numbers.

    Per parameter: ``m = beta1*m + (1-beta1)*g``, ``v = beta2*v + (1-beta2)*g*g``, and
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``. With
    ``amsgrad`` the running maximum of ``v`` is used. ``weight_decay`` is added to the
    gradient (L2), or with ``decoupled_weight_decay`` multiplies the parameter by
    ``1 - lr * weight_decay`` first (AdamW).

    Args:
        net: the polymod model whose parameters it updates.
        lr: learning rate.
        betas: decay rates of the two moment averages.
        eps: added to the denominator.
        weight_decay: weight decay (L2 unless ``decoupled_weight_decay``).
        amsgrad: use the maximum of the second moment seen so far.
        decoupled_weight_decay: AdamW's decay.
        param_groups: optional list of groups; see ``Optimizer.add_param_group``.

    Example:
        >>> import polymod as pm
        >>> from polymod import nn, ops
        >>> net = nn.Linear(3, 1).to("torch")
        >>> opt = pm.optim.Adam(net, lr=1e-3)
        >>> loss, grads = pm.value_and_grad(lambda m, X: ops.sum(m(X)))(net, pm.ones(2, 3))
        >>> opt.step(grads)
        >>> opt.state["weight"]["step"]
        1
    """

    STATE = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    TORCH_FLAGS = {"maximize": False, "foreach": None, "capturable": False,
                   "differentiable": False, "fused": None}

    def __init__(self, net: Module, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 decoupled_weight_decay: bool = False,
                 param_groups: Iterable[Mapping[str, Any]] | None = None):
        super().__init__(net, {"lr": lr, "betas": betas, "eps": eps,
                               "weight_decay": weight_decay, "amsgrad": amsgrad,
                               "decoupled_weight_decay": decoupled_weight_decay},
                         param_groups)

    def _update(self, adapter: Any, group: dict[str, Any], names: list[str],
                handles: list, grads: list) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd, amsgrad = group["weight_decay"], group["amsgrad"]
        decoupled = group["decoupled_weight_decay"]
        params = [h.value for h in handles]
        if wd and not decoupled:
            grads = [g + p * wd for g, p in zip(grads, params, strict=True)]
        states = [self._state_of(adapter, name, handle, amsgrad)
                  for name, handle in zip(names, handles, strict=True)]
        by_step: dict[int, list[int]] = {}
        for i, s in enumerate(states):
            s["step"] += 1
            by_step.setdefault(s["step"], []).append(i)
        for step, idx in by_step.items():  # one bucket unless some parameters missed steps
            if len(idx) == len(states):
                ps, gs, ss = params, grads, states
            else:
                ps, gs, ss = ([xs[i] for i in idx] for xs in (params, grads, states))
            ps = self._adam(adapter, ps, gs, ss, lr, beta1, beta2, eps, step,
                            lr * wd if decoupled else 0.0, amsgrad)
            for i, p in zip(idx, ps, strict=True):
                params[i] = p
        self._repoint(handles, params)

    def _state_of(self, adapter: Any, name: str, handle: Any, amsgrad: bool) -> dict:
        state = self.state.get(name)
        if state is None:
            state = self.state[name] = {"step": 0, "exp_avg": self._zeros(adapter, handle),
                                        "exp_avg_sq": self._zeros(adapter, handle)}
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = self._zeros(adapter, handle)
        return state

    @staticmethod
    def _adam(adapter: Any, ps: list, gs: list, states: list, lr: float, beta1: float,
              beta2: float, eps: float, step: int, decay: float, amsgrad: bool) -> list:
        bias_correction1 = 1 - beta1 ** step  # torch's arithmetic, in Python floats
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        c = bias_correction2 ** 0.5
        ms = [s["exp_avg"] for s in states]
        vs = [s["exp_avg_sq"] for s in states]
        if not amsgrad:
            out = adapter.adam_(ps, gs, ms, vs, beta1, beta2, step_size, c, eps, decay)
            if out is not None:
                ps, ms, vs = out
        else:
            if decay:
                ps = adapter.axpby_(ps, 1.0 - decay, None, 0.0) or ps
            ms = adapter.axpby_(ms, beta1, gs, 1.0 - beta1) or ms
            vs = adapter.addcmul_(vs, beta2, gs, gs, 1.0 - beta2) or vs
            maxima = [ops.maximum(s["max_exp_avg_sq"], v) for s, v in zip(states, vs,
                                                                          strict=True)]
            for s, m in zip(states, maxima, strict=True):
                s["max_exp_avg_sq"] = m
            ps = adapter.addcdiv_sqrt_(ps, 1.0, ms, maxima, c, eps, -step_size) or ps
        for s, m, v in zip(states, ms, vs, strict=True):
            s["exp_avg"], s["exp_avg_sq"] = m, v
        return ps


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, torch.optim.AdamW's defaults.

    Args:
        net: the polymod model whose parameters it updates.
        lr: learning rate.
        betas: decay rates of the two moment averages.
        eps: added to the denominator.
        weight_decay: each step multiplies the parameters by ``1 - lr * weight_decay``.
        amsgrad: use the maximum of the second moment seen so far.
        param_groups: optional list of groups, e.g. no decay on biases and norms:
            ``[{"params": [n for n, p in net.named_parameters() if len(p.shape) == 1],
            "weight_decay": 0.0}, {}]``.

    Example:
        >>> import polymod as pm
        >>> net = pm.nn.Linear(3, 1).to("torch")
        >>> opt = pm.optim.AdamW(net, lr=1e-3, param_groups=[{"params": ["bias"],
        ...                      "weight_decay": 0.0}, {}])
        >>> [g["weight_decay"] for g in opt.param_groups]
        [0.0, 0.01]
    """

    def __init__(self, net: Module, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 param_groups: Iterable[Mapping[str, Any]] | None = None):
        super().__init__(net, lr, betas, eps, weight_decay, amsgrad,
                         decoupled_weight_decay=True, param_groups=param_groups)

    def _check(self, group: dict[str, Any], index: int) -> None:
        if not group["decoupled_weight_decay"]:
            raise ValueError("AdamW's weight decay is always decoupled; for L2 weight decay "
                             "use pm.optim.Adam.")
