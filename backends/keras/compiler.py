"""``pm.compile`` on Keras: ``tf.function`` (optionally XLA) over the model's call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import layout
from .framework import tf


def compile_module(module: Any, training: bool, options: dict) -> Callable:
    from polymod.errors import UnsupportedError

    # XLA chooses its own layouts; otherwise a model with 2-D convolutions runs
    # channels-last (layout.py)
    channels_last = options.pop("channels_last", None)
    if channels_last is None:
        channels_last = not options.get("jit_compile") and layout.pays_for(module)
    options.setdefault("autograph", False)  # polymod's Python is run as it is, not rewritten

    def call_model(*inputs: Any, **keywords: Any) -> Any:
        return module(*inputs, **keywords)

    function = None
    if channels_last and "experimental_attributes" not in options:
        # called inside the user's own tf.function, it stays a call of its own, with the
        # conversion its call options ask for (inlined, the caller's options would rule)
        try:
            function = tf.function(call_model, **options,
                                   experimental_attributes={"_noinline": True})
        except (TypeError, ValueError):
            pass  # an attribute this TensorFlow no longer takes: inlined, as before
    try:
        function = function or tf.function(call_model, **options)
    except TypeError as err:
        raise UnsupportedError(f"pm.compile on the 'keras' backend: tf.function refused "
                               f"options {options}: {err}") from err
    if channels_last:
        function = layout.run_channels_last(function)

    def call(*inputs: Any, **keywords: Any) -> Any:
        try:
            return function(*inputs, **keywords)
        except tf.errors.OperatorNotAllowedInGraphError as err:
            raise UnsupportedError(
                f"pm.compile on the 'keras' backend: {type(module).__name__} uses Python "
                f"control flow on a tensor value (e.g. `while ops.sum(X) > 1`), which "
                f"tf.function cannot trace. Call the model eagerly, or write the loop with "
                f"tf.while_loop.") from err

    call.polymod_channels_last = channels_last
    return call
