"""The backend-neutral ops (``polymod.ops``): elementwise, reductions, shapes, indexing."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

relu = torch.relu
sigmoid = torch.sigmoid
tanh = torch.tanh


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU whose values above 10 are x itself, with PyTorch's own gradient.

    PyTorch's kernel computes x * (1 + erf) / 2: +inf gives NaN and x > 1.7e38 overflows
    to inf. For x > 10, GELU(x) is x exactly in float32 (as the other backends give). The
    values are replaced outside autograd: ``gelu_backward`` (saved from ``x``) is already
    1 there, and ``torch.where`` recorded by autograd added full-size ``where`` ops to
    each backward pass (9 % of a BERT-base-shaped training step at batch 8).
    """
    y = F.gelu(x)
    with torch.no_grad():
        torch.where(x > 10, x, y, out=y)
    return y


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



def sum(x: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return torch.sum(x) if axis is None and not keepdims else torch.sum(
        x, dim=axis, keepdim=keepdims)


def mean(x: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return torch.mean(x) if axis is None and not keepdims else torch.mean(
        x, dim=axis, keepdim=keepdims)


def max(x: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return torch.amax(x, dim=() if axis is None else axis, keepdim=keepdims)


def min(x: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return torch.amin(x, dim=() if axis is None else axis, keepdim=keepdims)


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


def take(x: torch.Tensor, indices: torch.Tensor, axis: int = 0) -> torch.Tensor:
    axis = axis % x.ndim
    return x[(slice(None),) * axis + (indices,)]


def embedding(indices: torch.Tensor, weight: torch.Tensor, padding_idx: Any = None
              ) -> torch.Tensor:
    return F.embedding(indices, weight, padding_idx)


def split(x: torch.Tensor, sections: int, axis: int = 0) -> list:
    return list(torch.split(x, x.shape[axis] // sections, dim=axis))


def masked_fill(x: torch.Tensor, mask: torch.Tensor, value: float) -> torch.Tensor:
    return x.masked_fill(mask, value)


def expand_dims(x: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.unsqueeze(x, axis)


def squeeze(x: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.squeeze(x, axis)


def stop_gradient(x: torch.Tensor) -> torch.Tensor:
    return x.detach()


# -- math, reductions, indexing added for real models (pm.from_torch) ------------------------
erf = torch.erf
sin = torch.sin
cos = torch.cos
rsqrt = torch.rsqrt
pow = torch.pow


def clip(x: torch.Tensor, min: Any, max: Any) -> torch.Tensor:
    return torch.clamp(x, min, max)


def var(x: torch.Tensor, axis: Any, keepdims: bool, correction: float) -> torch.Tensor:
    return torch.var(x, dim=axis, correction=correction, keepdim=keepdims)


def argmax(x: torch.Tensor, axis: Any, keepdims: bool) -> torch.Tensor:
    if axis is None and keepdims:  # NumPy's shape: every axis kept, of size 1
        return torch.argmax(x).reshape((1,) * x.ndim)
    return torch.argmax(x, dim=axis, keepdim=keepdims)


def argmin(x: torch.Tensor, axis: Any, keepdims: bool) -> torch.Tensor:
    if axis is None and keepdims:
        return torch.argmin(x).reshape((1,) * x.ndim)
    return torch.argmin(x, dim=axis, keepdim=keepdims)


def logsumexp(x: torch.Tensor, axis: Any, keepdims: bool) -> torch.Tensor:
    return torch.logsumexp(x, dim=tuple(range(x.ndim)) if axis is None else axis,
                           keepdim=keepdims)


def cumsum(x: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.cumsum(x, axis)


def take_along_axis(x: torch.Tensor, indices: torch.Tensor, axis: int) -> torch.Tensor:
    if indices.dtype != torch.int64:  # gather takes int64 indices only
        indices = indices.long()
    return torch.gather(x, axis, indices)


def broadcast_to(x: torch.Tensor, shape: tuple) -> torch.Tensor:
    return x.expand(shape)


def tril(x: torch.Tensor, k: int) -> torch.Tensor:
    return torch.tril(x, k)


def triu(x: torch.Tensor, k: int) -> torch.Tensor:
    return torch.triu(x, k)


def einsum(subscripts: str, *operands: torch.Tensor) -> torch.Tensor:
    return torch.einsum(subscripts, *operands)


def pad(x: torch.Tensor, pad_width: tuple, value: float) -> torch.Tensor:
    return F.pad(x, [p for pair in reversed(pad_width) for p in pair], value=value)
