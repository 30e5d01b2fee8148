"""Gradients on the framework's own autograd."""

from __future__ import annotations

import contextvars
from typing import Any

import torch

from polymod.errors import StateError

no_grad = torch.no_grad


# torch.autograd.grad's Python layer (argument checks, _make_grads, logging hooks) costs
# about 10 us a call: more than a small MLP's whole backward. For a plain scalar tensor,
# call the C++ engine as it does; anything else (a subclass, another torch) takes the API.
_ENGINE = getattr(torch.autograd.variable.Variable, "_execution_engine", None)
_STASH = getattr(torch._C, "_stash_obj_in_tls", None)
_UNSTASH = getattr(torch._C, "_remove_obj_from_tls", None)
_ENGINE_USABLE = None not in (_ENGINE, _STASH, _UNSTASH)  # decided once, at import


def _grad(value: torch.Tensor, tensors: list) -> tuple:
    if not _ENGINE_USABLE or type(value) is not torch.Tensor:
        return torch.autograd.grad(value, tensors, allow_unused=True)
    _STASH("context", contextvars.copy_context())  # what grad does for compiled autograd
    try:
        return _ENGINE.run_backward((value,), (torch.ones_like(value),), False, False,
                                    tuple(tensors), True, False)
    finally:
        _UNSTASH("context")


def value_and_grad(fn: Any, tensors: list) -> tuple:
    if torch.is_grad_enabled():  # entering enable_grad costs more than asking
        value = fn()
    else:
        with torch.enable_grad():
            value = fn()
    if not (tensors and value.requires_grad):  # a value that depends on no parameter
        if tensors and (value.is_inference() or torch.is_inference_mode_enabled()):
            raise StateError(
                "value_and_grad cannot record gradients inside torch.inference_mode(): "
                "tensors made there never record (torch.enable_grad() does not undo it), so "
                "every gradient would be zero. Call it outside inference_mode (use "
                "torch.no_grad() or pm.no_grad() for the code around it instead).")
        return value.detach(), [torch.zeros_like(t) for t in tensors]
    grads = _grad(value, tensors)
    if any(g is None for g in grads):  # unused parameters (cheaper than materialize_grads)
        grads = [torch.zeros_like(t) if g is None else g
                 for t, g in zip(tensors, grads, strict=True)]
    return value.detach(), grads
