"""PyTorch adapter: the only place polymod imports torch.

Parameters are ``torch.nn.Parameter`` objects; forward reads them directly, and the
native twin (``pm.native``) is a ``torch.nn.Module`` registering the same objects.

Private framework internals used (torch is pinned at 2.13.0):

| internal | why | fallback | covered by |
|---|---|---|---|
| ``Variable._execution_engine.run_backward``, ``torch._C._stash_obj_in_tls`` / ``_remove_obj_from_tls`` | ``value_and_grad`` without ``torch.autograd.grad``'s ~10 us Python layer | ``torch.autograd.grad`` (chosen at import when any is missing, and for tensor subclasses) | ``tests/test_fast_paths.py::test_torch_fast_gradient_matches_autograd_grad`` |
| ``torch.nn.Module._modules`` | the twin nests modules kept in lists/dicts (``layers.0``) | none needed: documented attribute of every torch module | ``tests/test_native_twins.py`` |
| ``torch._foreach_mul_``, ``_div_``, ``_add_``, ``_lerp_``, ``_addcmul_``, ``_addcdiv_``, ``_sqrt`` | optimizer updates of small tensors in one call per list (what ``torch.optim``'s ``foreach=True`` runs) | each tensor's own in-place method (chosen at import when any is missing) | ``tests/test_optim.py::test_update_kernels_write_in_place_to_float32_rounding``, ``::test_chapter_mlp_50_steps_match_torch_optim`` |
"""

from __future__ import annotations

import torch

from polymod import adapter as _interface

from . import autograd, compiler, layers, ops, tensors, twin, updates

NAME = "torch"
TENSOR_TYPES = (torch.Tensor,)


def version() -> str:
    return torch.__version__


_interface.assemble(globals(), tensors, autograd, ops, layers, twin, updates, compiler)
