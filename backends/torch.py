"""PyTorch adapter: the only place polymod imports torch."""

from __future__ import annotations

import contextvars
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from polymod import memory as _memory

NAME = "torch"
TENSOR_TYPES = (torch.Tensor,)


def version() -> str:
    return torch.__version__


# -- tensors -------------------------------------------------------------------------------
def from_numpy(array: np.ndarray, device: Any = None) -> torch.Tensor:
    # not np.ascontiguousarray: it turns a 0-d array into a 1-d one
    tensor = torch.from_numpy(array if array.flags.c_contiguous else array.copy())
    return tensor if device is None else tensor.to(device)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    array = x.detach().cpu().numpy()
    # large ones aligned: the same one copy, and TensorFlow can then adopt it (.to("keras"))
    if array.nbytes >= _memory.ADOPT_MIN_BYTES:
        return _memory.aligned_copy(array)
    return array.copy()


def dtype_of(x: torch.Tensor) -> np.dtype:
    return np.dtype(str(x.dtype).removeprefix("torch."))


def shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def device_of(x: torch.Tensor) -> Any:
    return None if x.device.type == "cpu" else x.device


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    param = torch.nn.Parameter(from_numpy(array, device), requires_grad=trainable)
    return param, param


def create_constant(array: np.ndarray, device: Any) -> torch.Tensor:
    return from_numpy(array, device)


def assign(target: torch.Tensor, value: Any) -> None:
    """Writes ``value`` (NumPy data or a tensor of this backend) into ``target`` in place."""
    if isinstance(value, np.ndarray):  # not ascontiguousarray: it makes 0-d arrays 1-d
        value = torch.from_numpy(np.array(value, copy=False, order="C"))
    with torch.no_grad():
        target.copy_(value)


def set_trainable(native: torch.Tensor, flag: bool) -> None:
    native.requires_grad_(flag)


def is_trainable(native: torch.Tensor, stored: bool) -> bool:
    """The framework's own flag (a user may freeze with ``requires_grad_(False)``)."""
    return native.requires_grad


# -- autograd --------------------------------------------------------------------------------
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
        return value.detach(), [torch.zeros_like(t) for t in tensors]
    grads = _grad(value, tensors)
    if any(g is None for g in grads):  # unused parameters (cheaper than materialize_grads)
        grads = [torch.zeros_like(t) if g is None else g
                 for t, g in zip(tensors, grads, strict=True)]
    return value.detach(), grads


# -- ops ------------------------------------------------------------------------------------
linear = F.linear
relu = torch.relu
sigmoid = torch.sigmoid
tanh = torch.tanh


def gelu(x: torch.Tensor) -> torch.Tensor:
    # PyTorch's kernel computes x * (1 + erf) / 2: +inf gives NaN and x > 1.7e38 overflows
    # to inf. For x > 10, GELU(x) is x exactly in float32 (as the other backends give).
    return torch.where(x > 10, x, F.gelu(x))


matmul = torch.matmul
add = torch.add
subtract = torch.subtract
multiply = torch.multiply
divide = torch.divide


def _tensor_pair(a: Any, b: Any) -> tuple:
    # torch.maximum/minimum take no Python numbers (the other frameworks do)
    if not isinstance(a, torch.Tensor):
        a = torch.as_tensor(a, dtype=b.dtype, device=b.device)
    elif not isinstance(b, torch.Tensor):
        b = torch.as_tensor(b, dtype=a.dtype, device=a.device)
    return a, b


def maximum(a: Any, b: Any) -> torch.Tensor:
    return torch.maximum(*_tensor_pair(a, b))


def minimum(a: Any, b: Any) -> torch.Tensor:
    return torch.minimum(*_tensor_pair(a, b))


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
    flag governs the polymod model while it runs. A forward hook registered on a
    submodule's twin makes that polymod submodule run through the twin, so the hook
    fires (modules without hooks keep polymod's direct path).
    """

    def __init__(self, module: Any, memo: dict | None = None):
        super().__init__()
        memo = {} if memo is None else memo
        memo[id(module)] = self
        object.__setattr__(self, "polymod_module", module)
        object.__setattr__(self, "_pm_routed", False)
        for name, handle in module._params.items():
            if handle.kind == "parameter":
                self.register_parameter(name, handle.native)
            else:
                self.register_buffer(name, handle.value)
        for name, child in module._children(remove_duplicate=False):  # aliases too, as torch
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
        if self._pm_routed:  # called by the polymod parent through the router below
            return type(module).forward(module, *args, **kwargs)
        if module.training is not self.training:
            module.train(self.training)
        return module(*args, **kwargs)

    def _route_through_twin(self) -> None:
        if self._pm_routed or getattr(self, "_pm_root", False):
            return
        twin = self

        def forward(*args: Any, **kwargs: Any) -> Any:
            return twin(*args, **kwargs)  # torch's __call__: hooks, then twin.forward

        self.polymod_module.__dict__["forward"] = forward
        object.__setattr__(self, "_pm_routed", True)

    def register_forward_hook(self, *args: Any, **kwargs: Any) -> Any:
        self._route_through_twin()
        return super().register_forward_hook(*args, **kwargs)

    def register_forward_pre_hook(self, *args: Any, **kwargs: Any) -> Any:
        self._route_through_twin()
        return super().register_forward_pre_hook(*args, **kwargs)


def native_twin(module: Any) -> PolymodTorchModule:
    twin = PolymodTorchModule(module)
    object.__setattr__(twin, "_pm_root", True)
    return twin


def export_weights(source: Any) -> dict[str, np.ndarray]:
    """A torch module's weights in the neutral layout (PyTorch's own), by name."""
    return {k: to_numpy(v) for k, v in source.state_dict().items()}


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target)


# -- sequences (embedding, attention, recurrent layers) ------------------------------------
def take(x: torch.Tensor, indices: torch.Tensor, axis: int = 0) -> torch.Tensor:
    axis = axis % x.ndim
    return x[(slice(None),) * axis + (indices,)]


def embedding(indices: torch.Tensor, weight: torch.Tensor, padding_idx: Any = None
              ) -> torch.Tensor:
    return F.embedding(indices, weight, padding_idx)


def split(x: torch.Tensor, sections: int, axis: int = 0) -> list:
    size = x.shape[axis]
    if size % sections:
        raise ValueError(f"split: an axis of size {size} does not split into {sections} "
                         f"equal sections.")
    return list(torch.split(x, size // sections, dim=axis))


def masked_fill(x: torch.Tensor, mask: torch.Tensor, value: float) -> torch.Tensor:
    return x.masked_fill(mask, value)


def expand_dims(x: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.unsqueeze(x, axis)


def squeeze(x: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.squeeze(x, axis)


def stop_gradient(x: torch.Tensor) -> torch.Tensor:
    return x.detach()


# -- layers: buffers, convolution, pooling, dropout, activations, losses --------------------
def create_buffer(array: np.ndarray, device: Any) -> torch.Tensor:
    return from_numpy(array, device)


_CONV = {1: F.conv1d, 2: F.conv2d}


def conv(x: torch.Tensor, weight: torch.Tensor, bias: Any, stride: tuple, padding: tuple,
         dilation: tuple, groups: int) -> torch.Tensor:
    """N-d convolution (NC*), weight (out, in/groups, *kernel); ``padding`` = (lo, hi) pairs."""
    if all(lo == hi for lo, hi in padding):
        pad = tuple(lo for lo, _ in padding)
    else:  # asymmetric ('same' with an even kernel): pad first, as PyTorch does
        x = F.pad(x, [p for pair in reversed(padding) for p in pair])
        pad = 0
    return _CONV[len(stride)](x, weight, bias, stride, pad, dilation, groups)


def max_pool2d(x: torch.Tensor, kernel: tuple, stride: tuple, padding: tuple) -> torch.Tensor:
    return F.max_pool2d(x, kernel, stride, padding)


def avg_pool2d(x: torch.Tensor, kernel: tuple, stride: tuple, padding: tuple) -> torch.Tensor:
    return F.avg_pool2d(x, kernel, stride, padding)


def _traced() -> bool:
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    if _traced():  # a mask from polymod's generator would be frozen into the graph
        keep = torch.rand(x.shape, dtype=x.dtype, device=x.device) >= p
        return x * (keep.to(x.dtype) * (1.0 / (1.0 - p)))
    from polymod.random import dropout_mask

    mask = torch.from_numpy(dropout_mask(tuple(x.shape), p, dtype_of(x)))
    return x * (mask if x.device.type == "cpu" else mask.to(x.device))


silu = F.silu


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope)


def bce_with_logits(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(x, y, reduction="none")


def cross_entropy_per_sample(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target, reduction="none")
