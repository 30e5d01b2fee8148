"""``pm.compile`` on Gluon: MXNet 1.9 cannot compile a polymod model; it says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def compile_module(module: Any, training: bool, options: dict) -> Callable:
    from polymod import registry
    from polymod.errors import UnsupportedError

    raise UnsupportedError(
        f"pm.compile on the 'gluon' backend cannot compile {type(module).__name__}: MXNet "
        f"1.9 compiles (hybridize) only hybrid_forward(F, ...) code, and polymod modules run "
        f"MXNet operators imperatively. Call the model itself (eager Gluon), or move it to "
        f"another framework ({', '.join(repr(n) for n in registry.FRAMEWORKS if n != 'gluon')})"
        f" with net.to(...) and compile "
        f"it there.")
