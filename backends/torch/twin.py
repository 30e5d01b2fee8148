"""The native twin (``pm.native``) and importing a native model's weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .tensors import to_numpy


class PolymodTorchModule(torch.nn.Module):
    """A ``torch.nn.Module`` over a polymod model's own parameter storage.

    Its ``parameters()``, ``state_dict()`` (neutral names), hooks, ``torch.optim`` and
    ``torch.compile`` work; ``forward`` runs the polymod model. Its ``train()``/``eval()``
    flag governs the polymod model while it runs. A forward hook registered on a
    submodule's twin makes that polymod submodule run through the twin, so the hook
    fires (modules without hooks keep polymod's direct path).
    """

    def __init__(self, module: Any, memo: dict | None = None):
        super().__init__()
        memo = {} if memo is None else memo
        memo[id(module)] = self
        object.__setattr__(self, "polymod_module", module)
        object.__setattr__(self, "_polymod_routed", False)
        for name, handle in module.named_handles(recurse=False):
            if handle.kind == "parameter":
                self.register_parameter(name, handle.native)
            else:
                self.register_buffer(name, handle.value)
        for name, child in module.named_children(remove_duplicate=False):  # aliases too, as torch
            twin = memo.get(id(child)) or PolymodTorchModule(child, memo)
            *path, leaf = name.split(".")
            parent = self
            for part in path:  # modules kept in lists/dicts: "layers.0" -> layers/0
                if part not in parent._modules:
                    parent.add_module(part, torch.nn.Module())
                parent = parent._modules[part]
            parent.add_module(leaf, twin)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        module = self.polymod_module
        if self._polymod_routed:  # called by the polymod parent through the router below
            return type(module).forward(module, *args, **kwargs)
        if module.training is not self.training:
            module.train(self.training)
        return module(*args, **kwargs)

    def _route_through_twin(self) -> None:
        if self._polymod_routed or getattr(self, "_polymod_root", False):
            return
        twin = self

        def forward(*args: Any, **kwargs: Any) -> Any:
            return twin(*args, **kwargs)  # torch's __call__: hooks, then twin.forward

        self.polymod_module.__dict__["forward"] = forward
        object.__setattr__(self, "_polymod_routed", True)

    def register_forward_hook(self, *args: Any, **kwargs: Any) -> Any:
        self._route_through_twin()
        return super().register_forward_hook(*args, **kwargs)

    def register_forward_pre_hook(self, *args: Any, **kwargs: Any) -> Any:
        self._route_through_twin()
        return super().register_forward_pre_hook(*args, **kwargs)


def native_twin(module: Any) -> PolymodTorchModule:
    twin = PolymodTorchModule(module)
    object.__setattr__(twin, "_polymod_root", True)
    return twin


def export_weights(source: Any) -> dict[str, np.ndarray]:
    """A torch module's weights in the neutral layout (PyTorch's own), by name."""
    return {k: to_numpy(v) for k, v in source.state_dict().items()}
