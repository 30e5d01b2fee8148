"""``pm.compile`` on Gluon: MXNet 1.9 cannot compile a polymod model; it says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def compile_module(module: Any, training: bool, options: dict) -> Callable:
    from polymod.errors import UnsupportedError

    raise UnsupportedError(
        f"pm.compile on the 'gluon' backend cannot compile {type(module).__name__}: MXNet "
        f"1.9 compiles (hybridize) only hybrid_forward(F, ...) code, and polymod modules run "
        f"MXNet operators imperatively. Call the model itself (eager Gluon), or compile it "
        f"on 'torch' (torch.compile), 'keras' (tf.function) or 'jax' (jax.jit).")
