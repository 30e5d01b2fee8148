"""Optimizer updates (the contracts are in polymod/adapter.py). JAX arrays are immutable:
each function returns the new arrays, computed in torch.optim's order (so a step gives
torch's numbers to float32 rounding), and the core re-points the handles and the
optimizer state to them."""

from __future__ import annotations

from .framework import jnp


def axpby_(xs: list, a: float, ys: list | None, b: float) -> list:
    if ys is None:
        return [x * a for x in xs]
    return [(x * a if a != 1.0 else x) + y * b for x, y in zip(xs, ys, strict=True)]


def addcmul_(xs: list, a: float, ys: list, zs: list, b: float) -> list:
    return [(x * a if a != 1.0 else x) + y * z * b for x, y, z in zip(xs, ys, zs, strict=True)]


def addcdiv_sqrt_(xs: list, a: float, ys: list, zs: list, c: float, eps: float,
                  b: float) -> list:
    return [(x * a if a != 1.0 else x) + y / (jnp.sqrt(z) / c + eps) * b
            for x, y, z in zip(xs, ys, zs, strict=True)]


def adam_(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, beta1: float,
          beta2: float, step_size: float, c: float, eps: float, decay: float) -> tuple:
    ps, ms, vs = [], [], []
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        if decay:
            p = p * (1.0 - decay)
        m = m + (g - m) * (1.0 - beta1)  # torch's lerp_
        v = v * beta2 + g * g * (1.0 - beta2)
        ps.append(p - m / (jnp.sqrt(v) / c + eps) * step_size)
        ms.append(m)
        vs.append(v)
    return ps, ms, vs
