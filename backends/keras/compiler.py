"""``pm.compile`` on Keras: ``tf.function`` (optionally XLA) over the model's call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .framework import tf


def compile_module(module: Any, training: bool, options: dict) -> Callable:
    from polymod.errors import UnsupportedError

    options.setdefault("autograph", False)  # polymod's Python is run as it is, not rewritten
    try:
        function = tf.function(lambda *inputs, **keywords: module(*inputs, **keywords), **options)
    except TypeError as err:
        raise UnsupportedError(f"pm.compile on the 'keras' backend: tf.function refused "
                               f"options {options}: {err}") from err

    def call(*inputs: Any, **keywords: Any) -> Any:
        try:
            return function(*inputs, **keywords)
        except tf.errors.OperatorNotAllowedInGraphError as err:
            raise UnsupportedError(
                f"pm.compile on the 'keras' backend: {type(module).__name__} uses Python "
                f"control flow on a tensor value (e.g. `while ops.sum(X) > 1`), which "
                f"tf.function cannot trace. Call the model eagerly, or write the loop with "
                f"tf.while_loop.") from err

    return call
