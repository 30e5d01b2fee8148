"""Gradients on the framework's own autograd."""

from __future__ import annotations

import contextlib
from typing import Any

from polymod.errors import BackendTypeError


def no_grad() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def value_and_grad(fn: Any, tensors: list) -> tuple:
    raise BackendTypeError(
        "The numpy backend is forward-only (the reference for comparisons); compute "
        "gradients on 'torch', 'keras' or 'gluon', e.g. net.to('torch').")
