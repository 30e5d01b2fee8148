"""Channels-last execution of compiled models: ``pm.compile`` and the twin's ``fit``.

polymod's tensors are NCHW (PyTorch's layout); TensorFlow's CPU kernels for
convolutions, pooling and batch norm are NHWC. Eagerly, every convolution pays for
that layout in transposes or in matmul form (``layers.py``). In a graph that polymod
calls itself, the whole model is known, so while such a function traces and runs:

* Grappler converts the graph's NCHW ops to NHWC (``RewriterConfig``'s
  ``cpu_layout_conversion``, set in the call's options) and cancels the transposes
  between them; BatchNorm then folds into the convolutions, as in Keras' own models.
* A 1×1 convolution, and an im2col one with more than one sample, is one 2-D matmul
  over all samples' channels-last positions, reading the stored ``(out, in, kh, kw)``
  weight as it is, between two transposes that the conversion cancels
  (``layers._conv_as_matmul``).
* Called inside a user's own ``tf.function``, ``pm.compile``'s function stays a call
  of its own (``compiler.py``): inlined, the caller's options would rule.

Only a model with 2-D convolutions runs this way (``pays_for``).

Weights, ``state_dict`` and the NCHW layout that user code sees do not change. The
conversion stops at ops it cannot permute (an operand of lower rank in a 4-D
``where``, for one); ``where`` below gives such operands rank 4 in graphs, so that
polymod's own ops never stop it.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .framework import tf

try:  # private modules (backends/keras/__init__.py lists them, with the fallback)
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
    from tensorflow.python.eager import context
except ImportError:
    context = None

_state = threading.local()


def active() -> bool:
    """Whether a channels-last function is being traced on this thread."""
    return getattr(_state, "active", False)


def pays_for(module: Any) -> bool:
    """Whether channels-last can pay for ``module``: it has a 2-D convolution (a 4-D
    weight). A model without one (an encoder, say) has nothing to convert, and would
    only lose: its compiled call could no longer be inlined into a caller's graph
    (a BERT encoder's compiled training step at batch 1: 1.42× instead of 0.99×)."""
    return any(len(handle.native.shape) == 4
               for _, handle in module.named_handles(("parameter",)))


def _converting_options() -> tuple[Any, Any, Any] | None:
    """The thread's function-call options and a copy that converts NCHW graphs to NHWC;
    None where TensorFlow's private API has moved (then nothing changes)."""
    if context is None:
        return None
    ctx = context.context()
    options = getattr(ctx, "function_call_options", None)
    serialized = getattr(options, "config_proto_serialized", None)
    if serialized is None:
        return None
    key = (serialized, options.executor_type)
    converting = _converting.get(key)
    if converting is None:
        config = config_pb2.ConfigProto()
        config.ParseFromString(serialized)
        config.graph_options.rewrite_options.cpu_layout_conversion = (
            rewriter_config_pb2.RewriterConfig.NCHW_TO_NHWC)
        converting = copy.copy(options)
        converting.config_proto_serialized = config
        _converting[key] = converting
    return ctx, options, converting


#: (the thread's options, serialized; executor) -> the same options, converting
_converting: dict[tuple, Any] = {}


@contextlib.contextmanager
def channels_last() -> Iterator[None]:
    """Functions traced or called inside run channels-last (see the module's docstring)."""
    found = _converting_options()
    if found is None:  # no conversion: the 1×1 matmul form would keep its transposes
        yield
        return
    ctx, options, converting = found
    before = active()
    ctx.function_call_options = converting
    _state.active = True
    try:
        yield
    finally:
        _state.active = before
        ctx.function_call_options = options


def run_channels_last(function: Callable) -> Callable:
    """``function`` (a ``tf.function``, or Keras' step functions) called channels-last."""
    @functools.wraps(function)
    def call(*args: Any, **keywords: Any) -> Any:
        with channels_last():
            return function(*args, **keywords)

    call.polymod_channels_last = True
    return call


def _rank(value: Any) -> int | None:
    shape = getattr(value, "shape", ())
    return len(shape) if not hasattr(shape, "rank") else shape.rank


def where(condition: Any, x: Any, y: Any) -> Any:
    """``tf.where``; in a channels-last graph with a 4-D result, as ``Select`` over
    operands broadcast to that shape. Grappler's NCHW->NHWC conversion cannot permute
    an operand of lower rank (a scalar NaN, say), nor the scalar zeros in ``tf.where``'s
    gradient, and would leave the whole graph unconverted. Elsewhere (eagerly, other
    graphs) the broadcast copies would only cost."""
    if not active() or tf.executing_eagerly():
        return tf.where(condition, x, y)
    ranks = [_rank(t) for t in (condition, x, y)]
    if None in ranks or max(ranks) != 4 or min(ranks) == 4:
        return tf.where(condition, x, y)
    dtype = next((t.dtype for t in (x, y) if hasattr(t, "dtype")), None)
    x, y = (tf.convert_to_tensor(t, dtype) for t in (x, y))
    shape = tf.broadcast_dynamic_shape(tf.shape(condition),
                                       tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(y)))
    return tf.raw_ops.Select(condition=tf.broadcast_to(condition, shape),
                             x=tf.broadcast_to(x, shape), y=tf.broadcast_to(y, shape))
