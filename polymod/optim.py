"""Optimisers that update the native storage in place, the same way on every backend.

The update rules are written once, with the backends' own tensor operators;
each adapter only supplies ``assign`` (an in-place write) and ``no_grad``.

Example:
    >>> import polymod as pm
    >>> from polymod import nn, ops
    >>> net = nn.Linear(3, 1).to("torch")
    >>> opt = pm.optim.SGD(net, lr=0.1)
    >>> loss, grads = pm.value_and_grad(lambda m, X: ops.sum(m(X)))(net, pm.ones(2, 3))
    >>> opt.step(grads)
"""

from __future__ import annotations

from typing import Any

from . import registry
from .errors import StateError
from .module import Module


class Optimizer:
    """Base class: holds the model and per-parameter state, applies ``update``."""

    def __init__(self, net: Module, lr: float):
        if not isinstance(net, Module):
            raise StateError(f"An optimizer takes the polymod model; received "
                             f"{type(net).__qualname__}.")
        if lr < 0:
            raise ValueError(f"lr must be >= 0; received lr={lr}.")
        self.net = net
        self.lr = float(lr)
        self.state: dict[str, dict[str, Any]] = {}
        self.steps = 0

    def step(self, grads: dict[str, Any]) -> None:
        """Applies one update from ``grads`` ({parameter name: native gradient})."""
        handles = dict(self.net.named_parameters())
        unknown = sorted(set(grads) - set(handles))
        if unknown:
            raise StateError(f"Gradients for unknown parameters {unknown}; the model has "
                             f"{sorted(handles)}.")
        adapter = registry.adapter(self.net.backend)
        self.steps += 1
        with adapter.no_grad():
            for name, grad in grads.items():
                handle = handles[name]
                if handle.trainable:
                    value = self.update(handle.value, grad, self.state.setdefault(name, {}))
                    adapter.assign(handle.value, value)

    def update(self, param: Any, grad: Any, state: dict[str, Any]) -> Any:
        """Returns the new value of ``param``; subclasses define the rule."""
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and weight decay (PyTorch's rule)."""

    def __init__(self, net: Module, lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        super().__init__(net, lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)

    def update(self, param: Any, grad: Any, state: dict[str, Any]) -> Any:
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            buf = state.get("momentum")
            buf = grad if buf is None else self.momentum * buf + grad
            state["momentum"] = buf
            grad = buf
        return param - self.lr * grad


class Adam(Optimizer):
    """Adam (PyTorch's rule, L2 ``weight_decay`` added to the gradient)."""

    def __init__(self, net: Module, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(net, lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def update(self, param: Any, grad: Any, state: dict[str, Any]) -> Any:
        from . import ops

        if self.weight_decay:
            grad = grad + self.weight_decay * param
        t = state["t"] = state.get("t", 0) + 1
        m = state["m"] = (1 - self.beta1) * grad + (
            self.beta1 * state["m"] if "m" in state else 0)
        v = state["v"] = (1 - self.beta2) * (grad * grad) + (
            self.beta2 * state["v"] if "v" in state else 0)
        m_hat = m / (1 - self.beta1**t)
        v_hat = v / (1 - self.beta2**t)
        return param - self.lr * m_hat / (ops.sqrt(v_hat) + self.eps)
