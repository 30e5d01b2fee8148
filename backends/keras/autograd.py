"""Gradients on the framework's own autograd."""

from __future__ import annotations

import contextlib
from typing import Any

from .framework import tf


def no_grad() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()  # TensorFlow records only inside a GradientTape


def value_and_grad(fn: Any, tensors: list) -> tuple:
    with tf.GradientTape() as tape:
        # TF watches the variables created trainable; one unfrozen later needs watch()
        # (about 8 us each, so not for all)
        tape.watch([t for t in tensors if not getattr(t, "trainable", True)])
        value, aux = fn()
    # tensors are the tf.Variables inside the keras.Variables (given keras.Variables that
    # the value does not depend on, TF fails: "'str' object has no attribute '_type_enum'")
    grads = tape.gradient(value, tensors,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO) if tensors else []
    # a gather (embedding lookup) gives IndexedSlices: dense, like the other backends
    return value, aux, [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                        for g in grads]
