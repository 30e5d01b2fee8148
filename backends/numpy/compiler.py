"""``pm.compile`` on NumPy: there is no compiler; it says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def compile_module(module: Any, training: bool, options: dict) -> Callable:
    from polymod import registry
    from polymod.errors import UnsupportedError

    raise UnsupportedError(
        f"pm.compile on the 'numpy' backend cannot compile {type(module).__name__}: NumPy "
        f"runs each operation eagerly and has no compiler. Call the model itself, or move it "
        f"to a framework that compiles ({registry.frameworks_named()}) with net.to(...).")
