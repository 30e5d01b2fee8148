"""The ops behind layers: linear, convolution, pooling, dropout, activations, losses."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .tensors import dtype_of

linear = F.linear


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target)


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


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


relu6 = F.relu6


def softplus(x: torch.Tensor, beta: float, threshold: float) -> torch.Tensor:
    return F.softplus(x, beta, threshold)


def elu(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return F.elu(x, alpha)


_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d}


def conv_transpose(x: torch.Tensor, weight: torch.Tensor, bias: Any, stride: tuple,
                   padding: tuple, output_padding: tuple, dilation: tuple,
                   groups: int) -> torch.Tensor:
    return _CONV_TRANSPOSE[len(stride)](x, weight, bias, stride, padding, output_padding,
                                        groups, dilation)


def _std(x: torch.Tensor, axis: Any, keepdims: bool, correction: float) -> torch.Tensor:
    return torch.std(x, dim=axis, correction=correction, keepdim=keepdims)


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Any, scale: float,
               is_causal: bool) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                          scale=scale)


def _instance_norm(x: torch.Tensor, running_mean: Any, running_var: Any, weight: Any,
                   bias: Any, use_input_stats: bool, eps: float) -> torch.Tensor:
    if not x.shape[0]:  # F.instance_norm fails on an empty batch; the result is empty
        return x * 1.0
    # momentum 0: the running statistics are read, never written (the layer does that)
    return F.instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, 0.0,
                           eps)


def _interpolate(x: torch.Tensor, size: Any, scale_factor: Any, mode: str,
                 align_corners: Any) -> torch.Tensor:
    return F.interpolate(x, size, scale_factor, mode, align_corners)


def _batch_norm(x: torch.Tensor, running_mean: Any, running_var: Any, weight: Any, bias: Any,
                use_batch_stats: bool, factor: float, eps: float) -> torch.Tensor:
    """``nn.BatchNorm``'s kernel: with batch statistics and running ones given, it writes
    ``(1 - factor) * running + factor * batch`` (unbiased variance) into them in place."""
    return F.batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, factor,
                        eps), None


#: polymod.ops name -> PyTorch's fused kernel (the composed forms' numbers, one kernel)
FUSED: dict = {
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "std": _std,
    "layer_norm": F.layer_norm,
    "batch_norm": _batch_norm,  # nn.BatchNorm1d/2d's, not an op
    "group_norm": F.group_norm,
    "instance_norm": _instance_norm,
    "max_pool1d": F.max_pool1d,
    "avg_pool1d": F.avg_pool1d,
    "adaptive_avg_pool1d": F.adaptive_avg_pool1d,
    "adaptive_avg_pool2d": F.adaptive_avg_pool2d,
    "interpolate": _interpolate,
    "scaled_dot_product_attention": _attention,
}
