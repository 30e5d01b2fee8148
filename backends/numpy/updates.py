"""Optimizer updates in place (the contracts are in polymod/adapter.py): NumPy's own ufuncs
with ``out=``, one tensor at a time, the order of torch.optim's single-tensor kernels."""

from __future__ import annotations

import numpy as np


def axpby_(xs: list, a: float, ys: list | None, b: float) -> None:
    for i, x in enumerate(xs):
        if a != 1.0:
            np.multiply(x, a, out=x)
        if ys is not None:
            x += ys[i] * b


def addcmul_(xs: list, a: float, ys: list, zs: list, b: float) -> None:
    for x, y, z in zip(xs, ys, zs, strict=True):
        if a != 1.0:
            np.multiply(x, a, out=x)
        x += y * z * b


def addcdiv_sqrt_(xs: list, a: float, ys: list, zs: list, c: float, eps: float,
                  b: float) -> None:
    for x, y, z in zip(xs, ys, zs, strict=True):
        denom = np.sqrt(z)
        denom /= c
        denom += eps
        if a != 1.0:
            np.multiply(x, a, out=x)
        x += y / denom * b


def adam_(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, beta1: float,
          beta2: float, step_size: float, c: float, eps: float, decay: float) -> None:
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        if decay:
            np.multiply(p, 1.0 - decay, out=p)
        m += (g - m) * (1.0 - beta1)  # torch's lerp_
        np.multiply(v, beta2, out=v)
        v += g * g * (1.0 - beta2)
        denom = np.sqrt(v)
        denom /= c
        denom += eps
        p -= m / denom * step_size
