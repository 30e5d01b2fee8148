"""Learning-rate schedules: torch.optim.lr_scheduler's classes, arguments and numbers.

A scheduler changes ``group["lr"]`` of its optimizer's parameter groups; call
``scheduler.step()`` after ``optimizer.step(grads)``, as in PyTorch. The arithmetic is
torch's own (its recursive "chainable" forms, in Python floats), so the learning rates
are equal to torch's to the bit, and ``state_dict()`` has torch's keys: a torch
scheduler's state dict loads, and the other way round.

Example:
    >>> import polymod as pm
    >>> opt = pm.optim.SGD(pm.nn.Linear(2, 1), lr=0.1)
    >>> sched = pm.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(4):
    ...     sched.step()
    ...     lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [0.1, 0.05, 0.05, 0.025]
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BackendTypeError, StateError
from .optimizer import Optimizer

# torch keeps these in its state dicts; they mean nothing between steps
_TRANSIENT = ("_is_initial", "_get_lr_called_within_step", "verbose")


class LRScheduler:
    """Base class: ``step()`` sets each group's ``lr`` to ``get_lr()``'s value.

    Args:
        optimizer: a ``pm.optim`` optimizer.
        last_epoch: the index of the last step taken; -1 (default) starts a schedule.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise BackendTypeError(f"{type(self).__name__} takes a pm.optim optimizer; "
                                   f"received {type(optimizer).__qualname__}.")
        self.optimizer = optimizer
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in group for group in groups):
            raise StateError(f"{type(self).__name__}(last_epoch={last_epoch}) resumes a "
                             f"schedule, but the optimizer's groups have no 'initial_lr': "
                             f"load the optimizer's state first, or start with last_epoch=-1.")
        self.base_lrs = [group["initial_lr"] for group in groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates for the step being taken (subclasses define it)."""
        raise NotImplementedError

    def _lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advances the schedule by one step and sets the optimizer's learning rates."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = self._lrs()

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group, as set by the last ``step``."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The schedule's state, torch's keys (every attribute but the optimizer)."""
        state = {k: v for k, v in vars(self).items() if k != "optimizer"}
        state["_is_initial"] = False
        state["_get_lr_called_within_step"] = False
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Loads ``state_dict()`` of the same scheduler type, polymod's or torch's."""
        self.__dict__.update(self._checked(state_dict))

    def _checked(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        kind = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise BackendTypeError(f"{kind}.load_state_dict expects a dict; received "
                                   f"{type(state_dict).__qualname__}.")
        known = set(self.state_dict())
        unknown = sorted(set(state_dict) - known - set(_TRANSIENT))
        missing = sorted(known - set(state_dict) - set(_TRANSIENT))
        if unknown or missing:
            raise ValueError(f"{kind}.load_state_dict: the state has unknown keys {unknown} "
                             f"and lacks {missing}; is it the state of another scheduler?")
        groups = len(self.optimizer.param_groups)
        if len(state_dict["base_lrs"]) != groups:
            raise StateError(f"{kind}.load_state_dict: the state has "
                             f"{len(state_dict['base_lrs'])} learning rates, the optimizer "
                             f"{groups} parameter groups.")
        return {k: (list(v) if isinstance(v, (list, tuple)) else v)
                for k, v in state_dict.items() if k not in _TRANSIENT}


class StepLR(LRScheduler):
    """Multiplies the learning rates by ``gamma`` every ``step_size`` steps.

    Example:
        >>> import polymod as pm
        >>> opt = pm.optim.SGD(pm.nn.Linear(2, 1), lr=1.0)
        >>> sched = pm.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        >>> sched.step(); sched.get_last_lr()
        [0.5]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]


class LinearLR(LRScheduler):
    """Scales the learning rates linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` steps (a warm-up), then keeps them.

    Example:
        >>> import polymod as pm
        >>> opt = pm.optim.SGD(pm.nn.Linear(2, 1), lr=1.0)
        >>> sched = pm.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> sched.get_last_lr()
        [0.5]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1.0:
            raise ValueError(f"start_factor must be in (0, 1]; received "
                             f"start_factor={start_factor}.")
        if not 0 <= end_factor <= 1.0:
            raise ValueError(f"end_factor must be in [0, 1]; received end_factor={end_factor}.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._lrs()
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (self.total_iters * self.start_factor
                                 + (self.last_epoch - 1) * change)
        return [lr * factor for lr in self._lrs()]


class CosineAnnealingLR(LRScheduler):
    """Anneals the learning rates from their initial value to ``eta_min`` along half a
    cosine over ``T_max`` steps (torch's recursive form, without restarts).

    Example:
        >>> import polymod as pm
        >>> opt = pm.optim.SGD(pm.nn.Linear(2, 1), lr=1.0)
        >>> sched = pm.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
        >>> sched.step(); round(sched.get_last_lr()[0], 6)
        0.5
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1):
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, eta_min = self.last_epoch, self.eta_min
        if self._is_initial:
            return self._lrs()
        if self._step_count == 1 and t > 0:
            return [eta_min + (base - eta_min) * (1 + math.cos(t * math.pi / self.T_max)) / 2
                    for base in self.base_lrs]
        if (t - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base, lr in zip(self.base_lrs, self._lrs(), strict=True)]
        return [(1 + math.cos(math.pi * t / self.T_max))
                / (1 + math.cos(math.pi * (t - 1) / self.T_max)) * (lr - eta_min) + eta_min
                for lr in self._lrs()]


class LambdaLR(LRScheduler):
    """Sets each learning rate to its initial value times ``lr_lambda(step)``.

    Args:
        optimizer: a ``pm.optim`` optimizer.
        lr_lambda: a function of the step index, or a list with one per group.
        last_epoch: the index of the last step taken.

    Example:
        >>> import polymod as pm
        >>> opt = pm.optim.SGD(pm.nn.Linear(2, 1), lr=1.0)
        >>> sched = pm.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.9 ** step)
        >>> sched.step(); sched.get_last_lr()
        [0.9]
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
                 last_epoch: int = -1):
        groups = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != groups:
                raise ValueError(f"LambdaLR expects {groups} lr_lambdas, one per parameter "
                                 f"group; received {len(lr_lambda)}.")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * groups
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch)
                for fn, base in zip(self.lr_lambdas, self.base_lrs, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        """As torch: functions are not saved; a callable object's attributes are."""
        state = super().state_dict()
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(vars(fn))
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        checked = self._checked(state_dict)
        saved = checked.pop("lr_lambdas")
        if len(saved) != len(self.lr_lambdas):
            raise StateError(f"LambdaLR.load_state_dict: the state has {len(saved)} "
                             f"lr_lambdas, this scheduler {len(self.lr_lambdas)}.")
        self.__dict__.update(checked)
        for fn, attributes in zip(self.lr_lambdas, saved, strict=True):
            if attributes is not None:
                fn.__dict__.update(attributes)


__all__ = ["LRScheduler", "StepLR", "LinearLR", "CosineAnnealingLR", "LambdaLR"]
