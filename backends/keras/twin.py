"""The native twin (``pm.native``) and importing a native model's weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import layout
from .framework import keras, tf


class PolymodModel(keras.Model):
    """A ``keras.Model`` over a polymod model's own variables.

    ``compile``/``fit``/``evaluate``/``predict``, ``trainable_variables`` and
    ``tf.function`` work. Keras' ``training=`` argument governs the polymod model
    while it runs. Inside ``fit`` the model runs as a TensorFlow graph: Python
    control flow on tensor values (a ``while`` on a tensor) needs
    ``compile(..., run_eagerly=True)``. For a model with 2-D convolutions those
    graphs run channels-last (``layout.py``) unless XLA compiles them
    (``jit_compile=True``).
    """

    def __init__(self, module: Any):
        super().__init__(name=f"polymod_{type(module).__name__}")
        object.__setattr__(self, "polymod_module", module)
        handles = module.named_handles(("parameter", "buffer", "constant"))
        self.polymod_variables = [h.native for _, h in handles
                                  if isinstance(h.native, keras.Variable)]
        self.built = True

    def make_train_function(self, force: bool = False) -> Any:
        super().make_train_function(force)
        return self._run_channels_last("train_function")

    def make_test_function(self, force: bool = False) -> Any:
        super().make_test_function(force)
        return self._run_channels_last("test_function")

    def make_predict_function(self, force: bool = False) -> Any:
        super().make_predict_function(force)
        return self._run_channels_last("predict_function")

    def _run_channels_last(self, name: str) -> Any:
        function = getattr(self, name)
        if (function is None or getattr(function, "polymod_channels_last", False)
                or self.run_eagerly or self.jit_compile is True
                or not layout.pays_for(self.polymod_module)):
            return function
        function = layout.run_channels_last(function)
        setattr(self, name, function)
        return function

    def call(self, inputs: Any, training: Any = None) -> Any:
        module = self.polymod_module
        if training is not None and bool(training) is not module.training:
            module.train(bool(training))
        try:
            return module(inputs)
        except tf.errors.OperatorNotAllowedInGraphError as err:
            from polymod.errors import StateError

            raise StateError(
                f"{type(module).__name__} uses Python control flow on a tensor value (e.g. "
                f"`while ops.sum(X) > 1`), which Keras cannot trace into a graph inside "
                f"fit/evaluate/predict or tf.function. Compile with "
                f"model.compile(..., run_eagerly=True), or write the loop with tf.while_loop."
            ) from err


def native_twin(module: Any) -> PolymodModel:
    return PolymodModel(module)


def export_weights(source: Any) -> list[np.ndarray]:
    """A Keras model's weights in creation order, 2-D kernels transposed to (out, in)."""
    return [w.T.copy() if w.ndim == 2 else w for w in
            (np.asarray(v.numpy()) for v in source.weights)]
