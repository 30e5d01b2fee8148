"""Optimizers, learning-rate schedules and gradient clipping, as torch.optim has them.

An optimizer takes the polymod model and ``step``s it with the gradients
``pm.value_and_grad`` returns, updating the native storage in place with each
framework's own fused kernels; the arguments, defaults and numbers are torch.optim's,
on every backend. ``state_dict()`` is torch.optim's layout with NumPy arrays, so it
loads on any backend (and a torch optimizer's state dict loads too).

Example:
    >>> import polymod as pm
    >>> from polymod import nn, ops
    >>> net = nn.Linear(3, 1).to("torch")
    >>> opt = pm.optim.AdamW(net, lr=1e-3)
    >>> sched = pm.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    >>> loss, grads = pm.value_and_grad(lambda m, X: ops.sum(m(X)))(net, pm.ones(2, 3))
    >>> grads, norm = pm.optim.clip_grad_norm(grads, max_norm=1.0)
    >>> opt.step(grads); sched.step()
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .clip import clip_grad_norm, clip_grad_value
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler", "clip_grad_norm",
           "clip_grad_value"]
