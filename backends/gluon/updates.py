"""Optimizer updates in place (the contracts are in polymod/adapter.py).

MXNet's own fused optimizer kernels (what ``gluon.Trainer`` runs): ``multi_sgd_update``
(several tensors per call) computes w <- (1 - lr*wd)*w - lr*rescale_grad*g, which with
lr = 1, wd = 1 - a and rescale_grad = -b is x <- a*x + b*y; ``contrib.adamw_update`` is
Adam with decoupled decay, its step size and epsilon rescaled to torch's formula (see
``adam_`` for how its float32 ``1 - beta2`` is corrected). They are legacy operators:
they take ``as_nd_ndarray()`` views, which share the arrays' memory, and write through
``out``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .framework import mnp, mx

# MXNet's multi-tensor kernels take a bounded number of tensors per call (60 for
# multi_sgd_update; more crashes the process): stay below it.
_CHUNK = 50
_rescales: dict = {}  # (context, beta2) -> the rescale_grad array of adamw_update


def _nd(xs: list) -> list:
    return [x.as_nd_ndarray() for x in xs]


def _chunks(n: int) -> range:
    return range(0, n, _CHUNK)


def axpby_(xs: list, a: float, ys: list | None, b: float) -> None:
    if ys is None:
        for x in xs:
            x *= a
        return
    for start in _chunks(len(xs)):
        out = _nd(xs[start:start + _CHUNK])
        pairs = [v for pair in zip(out, _nd(ys[start:start + _CHUNK]), strict=True)
                 for v in pair]
        n = len(out)
        mx.nd.multi_sgd_update(*pairs, lrs=(1.0,) * n, wds=(1.0 - a,) * n, rescale_grad=-b,
                               num_weights=n, out=out)


def addcmul_(xs: list, a: float, ys: list, zs: list, b: float) -> None:
    axpby_(xs, a, [y * z for y, z in zip(ys, zs, strict=True)], b)


def addcdiv_sqrt_(xs: list, a: float, ys: list, zs: list, c: float, eps: float,
                  b: float) -> None:
    axpby_(xs, a, [y / (mnp.sqrt(z) / c + eps) for y, z in zip(ys, zs, strict=True)], b)


def adam_(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, beta1: float,
          beta2: float, step_size: float, c: float, eps: float, decay: float) -> None:
    # m first, with exact coefficients (multi_sgd_update). Then v and w in one fused
    # kernel per tensor: contrib.adamw_update does g' = r*g, v <- b2*v + (1-b2)*g'^2 and
    # w <- w - eta*(lr*m / (sqrt(v) + epsilon) + wd*w); its beta1 = 1 leaves m as it is.
    # It computes 1 - b2 in float32 from float32(b2), 1.3e-5 off for 0.999, which
    # r = sqrt((1 - b2) / (1 - float32(b2))) corrects. lr = step_size * c, epsilon = eps * c
    # and wd = decay give torch's w * (1 - decay) - step_size * m / (sqrt(v) / c + eps).
    # (multi_adamw_update would take all tensors at once, but it computes less exactly:
    # it changes v by 4e-7 relative even with b2 = 1.)
    axpby_(exp_avgs, beta1, grads, 1.0 - beta1)
    rescale = _rescale(params[0].ctx, beta2)
    update = mx.nd.contrib.adamw_update
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        w = p.as_nd_ndarray()
        update(w, g.as_nd_ndarray(), m.as_nd_ndarray(), v.as_nd_ndarray(), rescale,
               lr=step_size * c, eta=1.0, beta1=1.0, beta2=beta2, epsilon=eps * c, wd=decay,
               out=w)


def _rescale(ctx: Any, beta2: float) -> Any:
    """``r`` with (1 - float32(beta2)) * r**2 == 1 - beta2, as the array adamw_update takes."""
    key = (ctx, beta2)
    found = _rescales.get(key)
    if found is None:
        exact, float32 = 1.0 - beta2, 1.0 - float(np.float32(beta2))
        found = _rescales[key] = mx.nd.array([math.sqrt(exact / float32)], ctx=ctx)
    return found
