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

    def to(self, *args: Any, **kwargs: Any) -> PolymodTorchModule:
        """torch's ``to``; a float dtype casts the polymod model (``net.to(dtype=...)``), so
        the twin and the model keep one storage (torch's own cast would replace the
        buffers in the twin only)."""
        dtype = kwargs.pop("dtype", None)
        rest = []
        for arg in args:
            if isinstance(arg, torch.dtype):
                dtype = arg
            elif isinstance(arg, torch.Tensor):  # to(other): its dtype (and device)
                dtype, arg = arg.dtype, arg.device
                rest.append(arg)
            else:
                rest.append(arg)
        if dtype is not None and dtype.is_floating_point:
            self.polymod_module.to(dtype=str(dtype).removeprefix("torch."))
            for twin in self.modules():
                if isinstance(twin, PolymodTorchModule):
                    twin._follow_storage()
        return super().to(*rest, **kwargs) if rest or kwargs else self

    def half(self) -> PolymodTorchModule:
        return self.to(torch.float16)

    def bfloat16(self) -> PolymodTorchModule:
        return self.to(torch.bfloat16)

    def float(self) -> PolymodTorchModule:
        return self.to(torch.float32)

    def double(self) -> PolymodTorchModule:
        return self.to(torch.float64)

    def _follow_storage(self) -> None:
        """Points the registered tensors at the polymod handles' (new) storage."""
        for name, handle in self.polymod_module.named_handles(recurse=False):
            if handle.kind == "parameter":
                self._parameters[name] = handle.native
            else:
                self._buffers[name] = handle.value

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
