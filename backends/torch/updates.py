"""Optimizer updates in place (the contracts are in polymod/adapter.py).

torch's multi-tensor ``_foreach_*`` kernels, the ones behind ``torch.optim``'s
``foreach=True`` implementations: one call per list instead of one per tensor, and the
same per-tensor arithmetic as torch.optim's default single-tensor loop, so a step
matches ``torch.optim`` to the bit. Where a ``_foreach_*`` function is missing (another
torch), a loop over the tensors' own in-place methods does the same.
"""

from __future__ import annotations

import torch


def _loop(method: str, out_of_place: bool = False):  # the fallback for one _foreach_ kernel
    def run(xs: list, *args, **kwargs):
        if out_of_place:
            return [getattr(x, method)(*(a[i] if isinstance(a, list) else a for a in args),
                                       **kwargs) for i, x in enumerate(xs)]
        for i, x in enumerate(xs):
            getattr(x, method)(*(a[i] if isinstance(a, list) else a for a in args), **kwargs)
        return None

    return run


_mul_ = getattr(torch, "_foreach_mul_", None) or _loop("mul_")
_div_ = getattr(torch, "_foreach_div_", None) or _loop("div_")
_add_ = getattr(torch, "_foreach_add_", None) or _loop("add_")
_lerp_ = getattr(torch, "_foreach_lerp_", None) or _loop("lerp_")
_addcmul_ = getattr(torch, "_foreach_addcmul_", None) or _loop("addcmul_")
_addcdiv_ = getattr(torch, "_foreach_addcdiv_", None) or _loop("addcdiv_")
_sqrt = getattr(torch, "_foreach_sqrt", None) or _loop("sqrt", out_of_place=True)


def axpby_(xs: list, a: float, ys: list | None, b: float) -> None:
    if a != 1.0:
        _mul_(xs, a)
    if ys is not None:
        _add_(xs, ys, alpha=b)


def addcmul_(xs: list, a: float, ys: list, zs: list, b: float) -> None:
    if a != 1.0:
        _mul_(xs, a)
    _addcmul_(xs, ys, zs, value=b)


def _denominators(zs: list, c: float, eps: float) -> list:
    denom = _sqrt(zs)
    if c != 1.0:
        _div_(denom, c)
    _add_(denom, eps)
    return denom


def addcdiv_sqrt_(xs: list, a: float, ys: list, zs: list, c: float, eps: float,
                  b: float) -> None:
    denom = _denominators(zs, c, eps)
    if a != 1.0:
        _mul_(xs, a)
    _addcdiv_(xs, ys, denom, value=b)


def adam_(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, beta1: float,
          beta2: float, step_size: float, c: float, eps: float, decay: float) -> None:
    if decay:
        _mul_(params, 1.0 - decay)
    _lerp_(exp_avgs, grads, 1.0 - beta1)
    _mul_(exp_avg_sqs, beta2)
    _addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
    _addcdiv_(params, exp_avgs, _denominators(exp_avg_sqs, c, eps), value=-step_size)
