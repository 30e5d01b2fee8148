"""Optimizer updates in place (the contracts are in polymod/adapter.py).

MXNet's in-place elementwise operators (``x *= a``, ``x += t``) on ``as_nd_ndarray()``
views, which share the arrays' memory: on the CPU they run 2.5-3x faster than its
fused optimizer kernels (``sgd_update`` 10.5 ms against 3-4 ms per operator for 4M
floats), so x <- a*x + b*y as two or three of them beats one fused call. Adam's
parameter step is the exception: ``adam_update``, whose own moment arithmetic is
avoided (see ``adam_``), does it in one pass.
"""

from __future__ import annotations

import math

import numpy as np

from .framework import mx


def axpby_(xs: list, a: float, ys: list | None, b: float) -> None:
    for i, x in enumerate(xs):
        x = x.as_nd_ndarray()
        if a != 1.0:
            x *= a
        if ys is None:
            continue
        y = ys[i].as_nd_ndarray()
        if b == 1.0:
            x += y
        elif b == -1.0:
            x -= y
        else:
            x += y * b


def addcmul_(xs: list, a: float, ys: list, zs: list, b: float) -> None:
    for x, y, z in zip(xs, ys, zs, strict=True):
        x = x.as_nd_ndarray()
        if a != 1.0:
            x *= a
        product = y.as_nd_ndarray() * z.as_nd_ndarray()
        product *= b
        x += product


def addcdiv_sqrt_(xs: list, a: float, ys: list, zs: list, c: float, eps: float,
                  b: float) -> None:
    for x, y, z in zip(xs, ys, zs, strict=True):
        x = x.as_nd_ndarray()
        denom = mx.nd.sqrt(z.as_nd_ndarray())
        if c != 1.0:
            denom /= c
        denom += eps
        ratio = y.as_nd_ndarray() / denom
        ratio *= b
        if a != 1.0:
            x *= a
        x += ratio


def adam_(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, beta1: float,
          beta2: float, step_size: float, c: float, eps: float, decay: float) -> None:
    # m with exact coefficients, then v and the parameter in one adam_update call:
    # v <- b2*v + (1-b2)*(r*g)^2 and w <- w - lr*m / (sqrt(v) + epsilon), its beta1 = 1
    # leaving m as it is. adam_update computes 1 - b2 in float32 from float32(b2), 1.3e-5
    # off for 0.999, which the gradient's rescale r corrects; lr = step_size * c and
    # epsilon = eps * c give torch's w - step_size * m / (sqrt(v) / c + eps).
    # (multi_adamw_update, for many tensors at once, computes v less exactly.)
    axpby_(exp_avgs, beta1, grads, 1.0 - beta1)
    rescale = math.sqrt((1.0 - beta2) / (1.0 - float(np.float32(beta2))))
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        w = p.as_nd_ndarray()
        if decay:
            w *= 1.0 - decay
        mx.nd.adam_update(w, g.as_nd_ndarray(), m.as_nd_ndarray(), v.as_nd_ndarray(),
                          lr=step_size * c, beta1=1.0, beta2=beta2, epsilon=eps * c, wd=0.0,
                          rescale_grad=rescale, out=w)
