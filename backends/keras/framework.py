"""Imports Keras 3 and TensorFlow, once, in the order that works."""

from __future__ import annotations

import importlib.util
import os

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401  -- PyTorch must load before TensorFlow (the other order can crash)

_requested = os.environ.get("KERAS_BACKEND", "tensorflow")
if _requested != "tensorflow":
    from polymod.errors import BackendUnavailableError

    raise BackendUnavailableError(
        f"polymod's 'keras' backend is Keras 3 on TensorFlow, but KERAS_BACKEND={_requested!r}. "
        f"Unset KERAS_BACKEND or set it to 'tensorflow' before polymod loads Keras.")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["keras", "tf"]
