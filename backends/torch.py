"""PyTorch adapter: the only place polymod imports torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

NAME = "torch"
TENSOR_TYPES = (torch.Tensor,)


def version() -> str:
    return torch.__version__


# -- tensors -------------------------------------------------------------------------------
def from_numpy(array: np.ndarray, device: Any = None) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor if device is None else tensor.to(device)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().copy()


def dtype_of(x: torch.Tensor) -> np.dtype:
    return np.dtype(str(x.dtype).removeprefix("torch."))


def shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def device_of(x: torch.Tensor) -> Any:
    return None if x.device.type == "cpu" else x.device


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    param = torch.nn.Parameter(from_numpy(array.copy(), device), requires_grad=trainable)
    return param, param


def create_constant(array: np.ndarray, device: Any) -> torch.Tensor:
    return from_numpy(array.copy(), device)


def assign(target: torch.Tensor, value: Any) -> None:
    """Writes ``value`` (NumPy data or a tensor of this backend) into ``target`` in place."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    with torch.no_grad():
        target.copy_(value)


def set_trainable(native: torch.Tensor, flag: bool) -> None:
    native.requires_grad_(flag)


# -- autograd --------------------------------------------------------------------------------
no_grad = torch.no_grad


def value_and_grad(fn: Any, tensors: list) -> tuple:
    with torch.enable_grad():
        value = fn()
        grads = torch.autograd.grad(value, tensors, allow_unused=True) if tensors else ()
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, grads)]
    return value.detach(), grads


# -- ops ------------------------------------------------------------------------------------
linear = F.linear
relu = torch.relu
sigmoid = torch.sigmoid
tanh = torch.tanh
gelu = F.gelu
matmul = torch.matmul
add = torch.add
subtract = torch.subtract
multiply = torch.multiply
divide = torch.divide
maximum = torch.maximum
minimum = torch.minimum
abs = torch.abs
exp = torch.exp
log = torch.log
sqrt = torch.sqrt
zeros_like = torch.zeros_like
ones_like = torch.ones_like


def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    return torch.softmax(x, axis)


def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    return torch.log_softmax(x, axis)


def _axes(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


def sum(x: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return torch.sum(x) if axis is None and not keepdims else torch.sum(
        x, dim=_axes(axis), keepdim=keepdims)


def mean(x: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return torch.mean(x) if axis is None and not keepdims else torch.mean(
        x, dim=_axes(axis), keepdim=keepdims)


def max(x: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return torch.amax(x, dim=() if axis is None else _axes(axis), keepdim=keepdims)


def min(x: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return torch.amin(x, dim=() if axis is None else _axes(axis), keepdim=keepdims)


def reshape(x: torch.Tensor, shape: tuple) -> torch.Tensor:
    return torch.reshape(x, shape)


def permute_dims(x: torch.Tensor, axes: Any = None) -> torch.Tensor:
    return x.permute(*(axes if axes is not None else reversed(range(x.ndim))))


def concat(xs: list, axis: int = 0) -> torch.Tensor:
    return torch.cat(list(xs), dim=axis)


def stack(xs: list, axis: int = 0) -> torch.Tensor:
    return torch.stack(list(xs), dim=axis)


def where(condition: Any, x: Any, y: Any) -> torch.Tensor:
    return torch.where(condition, x, y)


def astype(x: torch.Tensor, dtype: Any) -> torch.Tensor:
    return x.to(getattr(torch, np.dtype(dtype).name))


def flatten(x: torch.Tensor, start_dim: int) -> torch.Tensor:
    return torch.flatten(x, start_dim)


# -- native twin ----------------------------------------------------------------------------
class PolymodTorchModule(torch.nn.Module):
    """A ``torch.nn.Module`` over a polymod model's own parameter storage.

    Its ``parameters()``, ``state_dict()`` (neutral names), hooks, ``torch.optim`` and
    ``torch.compile`` work; ``forward`` runs the polymod model. Its ``train()``/``eval()``
    flag governs the polymod model while it runs.
    """

    def __init__(self, module: Any, memo: dict | None = None):
        super().__init__()
        memo = {} if memo is None else memo
        memo[id(module)] = self
        object.__setattr__(self, "polymod_module", module)
        for name, handle in module._params.items():
            if handle.kind == "parameter":
                self.register_parameter(name, handle.native)
            else:
                self.register_buffer(name, handle.value)
        for name, child in module.named_children():
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
        if module.training is not self.training:
            module.train(self.training)
        return module(*args, **kwargs)


def native_twin(module: Any) -> PolymodTorchModule:
    return PolymodTorchModule(module)


def export_weights(source: Any) -> dict[str, np.ndarray]:
    """A torch module's weights in the neutral layout (PyTorch's own), by name."""
    return {k: to_numpy(v) for k, v in source.state_dict().items()}


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target)
