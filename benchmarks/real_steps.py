"""The timed calls of ``real_models.py``: an eval forward or a training step, per framework.

A training step is forward + backward + a plain SGD step; the loss is the sum of the
means of the model's outputs (small gradients, so the weights stay finite over many
steps). Native models train with their framework's own tools (``torch.optim.SGD``,
``keras.optimizers.SGD`` under a ``tf.GradientTape``, ``gluon.Trainer``, a
``jax.tree.map`` update); polymod eagerly with its own loop (``pm.value_and_grad`` and
``pm.optim.SGD``), and compiled with the framework's tools on the compiled model. Every
returned callable waits for its results (MXNet's engine, JAX's dispatch are asynchronous).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

LR = 1e-4


def outputs(out: Any) -> tuple:
    """A model's outputs as a tuple (a BERT dict: last hidden state, pooled output)."""
    if isinstance(out, dict):
        return out["last_hidden_state"], out["pooler_output"]
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


# -- torch --------------------------------------------------------------------------------------
def torch_eval(fn: Callable, inputs: Sequence) -> Callable[[], Any]:
    import torch

    def step():
        with torch.no_grad():
            return fn(*inputs)
    return step


def torch_train(fn: Callable, params: Any, inputs: Sequence) -> Callable[[], Any]:
    import torch

    opt = torch.optim.SGD(list(params), lr=LR)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = sum(o.mean() for o in outputs(fn(*inputs)))
        loss.backward()
        opt.step()
        return loss
    return step


# -- Keras / TensorFlow -------------------------------------------------------------------------
def keras_eval(fn: Callable, inputs: Sequence, compiled: bool) -> Callable[[], Any]:
    import tensorflow as tf

    call = tf.function(fn, autograph=False) if compiled else fn

    def step():
        return call(*inputs)
    return step


def keras_train(fn: Callable, variables: list, inputs: Sequence,
                compiled: bool) -> Callable[[], Any]:
    import keras
    import tensorflow as tf

    opt = keras.optimizers.SGD(learning_rate=LR)
    opt.build(variables)

    def step():
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_mean(o) for o in outputs(fn(*inputs))])
        opt.apply(tape.gradient(loss, variables), variables)
        return loss
    return tf.function(step, autograph=False) if compiled else step


# -- Gluon / MXNet -------------------------------------------------------------------------------
def gluon_eval(fn: Callable, inputs: Sequence) -> Callable[[], Any]:
    import mxnet as mx

    def step():
        out = fn(*inputs)
        mx.nd.waitall()
        return out
    return step


def gluon_train(fn: Callable, params: Any, inputs: Sequence) -> Callable[[], Any]:
    import mxnet as mx
    from mxnet import autograd, gluon

    trainer = gluon.Trainer(params, "sgd", {"learning_rate": LR})

    def step():
        with autograd.record():
            loss = sum(o.mean() for o in outputs(fn(*inputs)))
        loss.backward()
        trainer.step(1)
        mx.nd.waitall()
        return loss
    return step


# -- JAX ------------------------------------------------------------------------------------------
def jax_eval(apply: Callable, params: Any, inputs: Sequence, jit: bool) -> Callable[[], Any]:
    import jax

    call = jax.jit(apply) if jit else apply

    def step():
        return jax.block_until_ready(call(params, *inputs))
    return step


def jax_train(apply: Callable, params: Any, inputs: Sequence, jit: bool) -> Callable[[], Any]:
    """``params = params - LR * grad`` of the loss of ``apply(params, *inputs)``."""
    import jax
    import jax.numpy as jnp

    def update(p, *xs):
        loss, grads = jax.value_and_grad(
            lambda q: sum(jnp.mean(o) for o in outputs(apply(q, *xs))))(p)
        return jax.tree.map(lambda w, g: w - LR * g, p, grads), loss

    update = jax.jit(update) if jit else update
    state = [params]

    def step():
        state[0], loss = update(state[0], *inputs)
        return jax.block_until_ready(loss)
    return step


# -- polymod, eagerly: its own loop on every framework ------------------------------------------
def polymod_eval(net: Any, call: Callable, inputs: Sequence, backend: str) -> Callable[[], Any]:
    import polymod as pm

    wait = _waiter(backend)

    def step():
        with pm.no_grad():
            out = call(net, *inputs)
        wait(out)
        return out
    return step


def polymod_train(net: Any, call: Callable, inputs: Sequence, backend: str) -> Callable[[], Any]:
    import polymod as pm
    from polymod import ops

    def loss_of(model, *xs):
        outs = outputs(call(model, *xs))
        total = ops.mean(outs[0])
        for o in outs[1:]:
            total = total + ops.mean(o)
        return total

    value_and_grad = pm.value_and_grad(loss_of)
    opt = pm.optim.SGD(net, lr=LR)
    wait = _waiter(backend)

    def step():
        loss, grads = value_and_grad(net, *inputs)
        opt.step(grads)
        wait(loss)
        return loss
    return step


def _waiter(backend: str) -> Callable[[Any], None]:
    if backend == "gluon":
        import mxnet as mx

        return lambda _: mx.nd.waitall()
    if backend == "jax":
        import jax

        return jax.block_until_ready
    return lambda _: None
