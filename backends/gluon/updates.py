"""Optimizer updates in place (the contracts are in polymod/adapter.py).

Two costs decide how, on MXNet: every operator call costs tens of microseconds of
dispatch, and on the CPU its fused optimizer kernels are 2.5-3x slower per element
than its elementwise operators (``sgd_update`` 10.5 ms against 3-4 ms per operator for
4M floats). So small tensors are updated all at once by one ``multi_sgd_update`` call
(w <- (1 - lr*wd)*w - lr*rescale_grad*g: with lr = 1, wd = 1 - a, rescale_grad = -b,
that is x <- a*x + b*y), and large ones with in-place operators (``x *= a``, ``x += t``)
on ``as_nd_ndarray()`` views, which share the arrays' memory. Adam's second moment and
parameter step are one ``adam_update`` call per tensor (see ``adam_``).
"""

from __future__ import annotations

import math

import numpy as np

from .framework import mx

_SMALL = 1 << 16  # elements: below this, one multi-tensor call for all such tensors
_CHUNK = 50  # tensors per multi_sgd_update call (it takes at most 60)


def _split(xs: list) -> tuple[list[int], list[int]]:
    small, large = [], []
    for i, x in enumerate(xs):
        # the fused kernels take their coefficients in float32: float64 goes by operators
        (small if x.size < _SMALL and x.dtype == np.float32 else large).append(i)
    return small, large


def _multi_axpby(xs: list, a: float, ys: list, b: float) -> None:
    """x <- a*x + b*y for all pairs, ``multi_sgd_update`` calls of up to _CHUNK tensors."""
    for start in range(0, len(xs), _CHUNK):
        out = [x.as_nd_ndarray() for x in xs[start:start + _CHUNK]]
        pairs = [v for x, y in zip(out, ys[start:start + _CHUNK], strict=True)
                 for v in (x, y.as_nd_ndarray())]
        n = len(out)
        mx.nd.multi_sgd_update(*pairs, lrs=(1.0,) * n, wds=(1.0 - a,) * n, rescale_grad=-b,
                               num_weights=n, out=out)


def _axpby_in_place(x: object, a: float, y: object, b: float) -> None:
    x = x.as_nd_ndarray()
    if a != 1.0:
        x *= a
    if y is None:
        return
    y = y.as_nd_ndarray()
    if b == 1.0:
        x += y
    elif b == -1.0:
        x -= y
    else:
        x += y * b


def axpby_(xs: list, a: float, ys: list | None, b: float) -> None:
    if ys is None:
        for x in xs:
            _axpby_in_place(x, a, None, 0.0)
        return
    small, large = _split(xs)
    if small:
        _multi_axpby([xs[i] for i in small], a, [ys[i] for i in small], b)
    for i in large:
        _axpby_in_place(xs[i], a, ys[i], b)


def _with_term(xs: list, a: float, terms: list, b: float) -> None:
    """x <- a*x + b*t for new temporaries ``terms`` (may be scaled in place)."""
    small, large = _split(xs)
    if small:
        _multi_axpby([xs[i] for i in small], a, [terms[i] for i in small], b)
    for i in large:
        terms[i] *= b
        x = xs[i].as_nd_ndarray()
        if a != 1.0:
            x *= a
        x += terms[i]


def addcmul_(xs: list, a: float, ys: list, zs: list, b: float) -> None:
    _with_term(xs, a, [y.as_nd_ndarray() * z.as_nd_ndarray()
                       for y, z in zip(ys, zs, strict=True)], b)


def addcdiv_sqrt_(xs: list, a: float, ys: list, zs: list, c: float, eps: float,
                  b: float) -> None:
    ratios = []
    for y, z in zip(ys, zs, strict=True):
        denom = mx.nd.sqrt(z.as_nd_ndarray())
        if c != 1.0:
            denom /= c
        denom += eps
        ratios.append(y.as_nd_ndarray() / denom)
    _with_term(xs, a, ratios, b)


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
        if p.dtype != np.float32:  # adam_update's coefficients are float32: operators
            addcmul_([v], beta2, [g], [g], 1.0 - beta2)
            if decay:
                _axpby_in_place(p, 1.0 - decay, None, 0.0)
            addcdiv_sqrt_([p], 1.0, [m], [v], c, eps, -step_size)
            continue
        w = p.as_nd_ndarray()
        if decay:
            w *= 1.0 - decay
        mx.nd.adam_update(w, g.as_nd_ndarray(), m.as_nd_ndarray(), v.as_nd_ndarray(),
                          lr=step_size * c, beta1=1.0, beta2=beta2, epsilon=eps * c, wd=0.0,
                          rescale_grad=rescale, out=w)
