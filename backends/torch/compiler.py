"""``pm.compile`` on PyTorch: ``torch.compile`` over the native twin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def compile_module(module: Any, training: bool, options: dict) -> Callable:
    from polymod import native  # the function (importing polymod.native would rebind the name)
    from polymod.errors import UnsupportedError

    twin = native(module)
    try:
        compiled = torch.compile(twin, **options)
    except (TypeError, ValueError, RuntimeError) as err:
        raise UnsupportedError(f"pm.compile on the 'torch' backend: torch.compile refused "
                               f"{type(module).__name__} with options {options}: {err}") from err
    state = {"checked": False}

    def call(*inputs: Any, **keywords: Any) -> Any:
        if twin.training is not training:
            twin.train(training)  # the twin's flag governs the model while it runs
        if state["checked"]:
            return compiled(*inputs, **keywords)
        try:  # the first call traces: a model dynamo cannot compile fails here
            out = compiled(*inputs, **keywords)
        except Exception as err:
            if type(err).__module__.startswith(("torch._dynamo", "torch._inductor")):
                raise UnsupportedError(
                    f"pm.compile on the 'torch' backend: torch.compile could not compile "
                    f"{type(module).__name__}: {type(err).__name__}: {err}".split("\n")[0]
                ) from err
            raise
        state["checked"] = True
        return out

    return call
