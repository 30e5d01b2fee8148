"""Optimizer updates in place (the contracts are in polymod/adapter.py).

TensorFlow's fused training kernels where one computes exactly the update
(``ResourceApplyGradientDescent`` for x <- x + b*y, ``ResourceApplyAdam`` for Adam's
second moment and step, rescaled to torch's formula), else ``Variable.assign`` of the
new value computed with TF ops. Targets are variables: a parameter's ``tf.Variable`` or
optimizer state made by ``create_buffer``; both are written in place.
"""

from __future__ import annotations

import math

import numpy as np

from .framework import keras, tf

_raw = tf.raw_ops


def _variables(xs: list) -> list:
    """The tf.Variables themselves: optimizer state made by ``create_buffer`` is a
    keras.Variable, whose operators go through keras.ops (several us more per op)."""
    return [x.value if isinstance(x, keras.Variable) else x for x in xs]


def _scalar(value: float, like: tf.Variable) -> tf.Tensor:
    return tf.constant(value, dtype=like.dtype)


def axpby_(xs: list, a: float, ys: list | None, b: float) -> None:
    xs = _variables(xs)
    if ys is None:
        for x in xs:
            x.assign(x * a)
        return
    ys = _variables(ys)
    if a == 1.0:  # x -= (-b) * y, one fused kernel
        alpha = _scalar(-b, xs[0])
        for x, y in zip(xs, ys, strict=True):
            if x.dtype != alpha.dtype:
                alpha = _scalar(-b, x)
            _raw.ResourceApplyGradientDescent(var=x.handle, alpha=alpha, delta=y)
        return
    for x, y in zip(xs, ys, strict=True):
        x.assign(x * a + y * b)


def addcmul_(xs: list, a: float, ys: list, zs: list, b: float) -> None:
    for x, y, z in zip(_variables(xs), _variables(ys), _variables(zs), strict=True):
        x.assign((x * a if a != 1.0 else x) + y * z * b)


def addcdiv_sqrt_(xs: list, a: float, ys: list, zs: list, c: float, eps: float,
                  b: float) -> None:
    for x, y, z in zip(_variables(xs), _variables(ys), _variables(zs), strict=True):
        update = y / (tf.sqrt(z) / c + eps) * b
        if a == 1.0:
            x.assign_add(update)
        else:
            x.assign(x * a + update)


def adam_(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, beta1: float,
          beta2: float, step_size: float, c: float, eps: float, decay: float) -> None:
    # m first, with the exact coefficient. Then ResourceApplyAdam with beta1 = 1 (m stays):
    # v += (g^2 - v) * (1 - beta2) and var -= lr_t * m / (sqrt(v) + epsilon), lr_t = lr *
    # sqrt(1 - beta2_power) / (1 - beta1_power). It computes 1 - beta2 in float32 from
    # float32(beta2), 1.3e-5 off for 0.999: the gradient is scaled by r to correct it.
    # With both powers 0, lr = step_size * c and epsilon = eps * c, that is torch's
    # var -= step_size * m / (sqrt(v) / c + eps).
    exact, float32 = 1.0 - beta2, 1.0 - float(np.float32(beta2))
    rescale = math.sqrt(exact / float32)
    scalars: dict = {}
    for p, g, m, v in zip(params, grads, _variables(exp_avgs), _variables(exp_avg_sqs),
                          strict=True):
        if decay:
            p.assign(p * (1.0 - decay))
        m.assign_add((g - m) * (1.0 - beta1))
        if p.dtype != tf.float32:  # the fused kernel's beta2 trick is float32's (in
            # bfloat16, 0.999 rounds to 1): torch's formula with plain ops
            v.assign(v * beta2 + g * g * (1.0 - beta2))
            p.assign_sub(m / (tf.sqrt(v) / c + eps) * step_size)
            continue
        s = scalars.get(p.dtype)
        if s is None:
            s = scalars[p.dtype] = [_scalar(x, p) for x in
                                    (0.0, step_size * c, 1.0, beta2, eps * c)]
        zero, lr, one, b2, epsilon = s
        _raw.ResourceApplyAdam(var=p.handle, m=m.handle, v=v.handle, beta1_power=zero,
                               beta2_power=zero, lr=lr, beta1=one, beta2=b2, epsilon=epsilon,
                               grad=g * rescale)
