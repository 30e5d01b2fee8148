"""Gradients on the framework's own autograd."""

from __future__ import annotations

import contextlib
from typing import Any

from polymod import registry
from polymod.errors import BackendTypeError


def no_grad() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def value_and_grad(fn: Any, tensors: list) -> tuple:
    raise BackendTypeError(
        f"The numpy backend is forward-only (the reference for comparisons); compute "
        f"gradients on {registry.frameworks_named()}, e.g. net.to({registry.FRAMEWORKS[0]!r}).")
