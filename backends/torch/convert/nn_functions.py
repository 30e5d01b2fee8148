"""Converters of torch's functional layers, attention and tensor creation (see
``functions``)."""

from __future__ import annotations

from typing import Any

import torch

from .layers import NotConvertible


# -- layers as functions ------------------------------------------------------------------
def linear(cx: Any, x: Any, weight: Any, bias: Any = None) -> Any:
    return cx.op("linear", x, weight, bias)


def conv(cx: Any, x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
         dilation: Any = 1, groups: int = 1) -> Any:
    if isinstance(padding, str):
        raise NotConvertible(f"functional convolution with padding={padding!r}")
    return cx.op("conv", x, weight, bias, _tuple(stride), _tuple(padding), _tuple(dilation),
                 groups)


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def max_pool2d(cx: Any, x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
               ) -> Any:
    if ceil_mode or return_indices or _tuple(dilation) not in (1, (1, 1)):
        raise NotConvertible("max_pool2d with ceil_mode, dilation or return_indices")
    stride = None if stride in (None, [], ()) else _tuple(stride)
    return cx.op("max_pool2d", x, _tuple(kernel_size), stride, _tuple(padding))


def avg_pool2d(cx: Any, x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Any = None) -> Any:
    if ceil_mode or not count_include_pad or divisor_override is not None:
        raise NotConvertible("avg_pool2d with ceil_mode, count_include_pad=False or "
                             "divisor_override")
    stride = None if stride in (None, [], ()) else _tuple(stride)
    return cx.op("avg_pool2d", x, _tuple(kernel_size), stride, _tuple(padding))


def adaptive_avg_pool2d(cx: Any, x: Any, output_size: Any) -> Any:
    size = tuple(output_size) if isinstance(output_size, (list, tuple)) else (output_size,) * 2
    if size == (1, 1):
        return cx.op("mean", x, axis=(2, 3), keepdims=True)
    return cx.op("adaptive_avg_pool2d", x, size)


def layer_norm(cx: Any, x: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5, *rest: Any) -> Any:
    return cx.op("layer_norm", x, tuple(normalized_shape), weight, bias, eps)


def embedding_function(cx: Any, input: Any, weight: Any, padding_idx: Any = None,
                       max_norm: Any = None, *rest: Any, **kwargs: Any) -> Any:
    if max_norm is not None:
        raise NotConvertible("embedding with max_norm")
    return cx.op("embedding", input, weight, padding_idx)


def embedding_aten(cx: Any, weight: Any, indices: Any, padding_idx: int = -1,
                   *rest: Any) -> Any:
    return cx.op("embedding", indices, weight, None if padding_idx < 0 else padding_idx)


def sdpa(cx: Any, query: Any, key: Any, value: Any, attn_mask: Any = None,
         dropout_p: float = 0.0, is_causal: bool = False, *, scale: Any = None,
         enable_gqa: bool = False) -> Any:
    if enable_gqa:
        raise NotConvertible("scaled_dot_product_attention with enable_gqa=True")
    kwargs: dict[str, Any] = {}
    if attn_mask is not None:
        kwargs["attn_mask"] = attn_mask
    if dropout_p:
        kwargs["dropout_p"] = dropout_p
    if is_causal:
        kwargs["is_causal"] = True
    if scale is not None:
        kwargs["scale"] = scale
    return cx.op("scaled_dot_product_attention", query, key, value, **kwargs)


def arange(cx: Any, start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None,
           **kwargs: Any) -> Any:
    extra: dict[str, Any] = {"like": cx.any_input()}
    if dtype is not None:
        extra["dtype"] = cx.dtype_name(dtype)
    if end is None:
        return cx.op("arange", start, **extra)
    return cx.op("arange", start, end, step, **extra)


def _filled(cx: Any, like: Any, size: Any, value: Any, dtype: Any) -> Any:
    if dtype is None:
        dtype = cx.dtype(like) if cx.is_tensor(like) else (
            torch.bool if isinstance(value, bool) else
            torch.int64 if isinstance(value, int) else torch.float32)
    if isinstance(size, tuple) and len(size) == 1 and (
            isinstance(size[0], (list, tuple)) or cx.is_sequence(size[0])):
        size = size[0]  # f(2, 3), f((2, 3)) and f(x.shape) alike
    if isinstance(size, list):
        size = tuple(size)
    return cx.op("full", size, value, dtype=cx.dtype_name(dtype),
                 like=like if cx.is_tensor(like) else cx.any_input())


def new_full(cx: Any, x: Any, size: Any, fill_value: Any, *, dtype: Any = None,
             **kwargs: Any) -> Any:
    if cx.is_value(fill_value):
        raise NotConvertible("new_full with a fill value only known when the model runs")
    return _filled(cx, x, size, fill_value, dtype)


def new_ones(cx: Any, x: Any, *size: Any, dtype: Any = None, **kwargs: Any) -> Any:
    return _filled(cx, x, size, 1, dtype)


def new_zeros(cx: Any, x: Any, *size: Any, dtype: Any = None, **kwargs: Any) -> Any:
    return _filled(cx, x, size, 0, dtype)  # new_empty too: its values are unspecified


def full(cx: Any, size: Any, fill_value: Any, *, dtype: Any = None, **kwargs: Any) -> Any:
    if cx.is_value(fill_value):
        raise NotConvertible("torch.full with a fill value only known when the model runs")
    return _filled(cx, None, size, fill_value, dtype or (
        torch.float32 if isinstance(fill_value, float) else None))


def ones(cx: Any, *size: Any, dtype: Any = None, **kwargs: Any) -> Any:
    return _filled(cx, None, size, 1, dtype or torch.float32)


def zeros(cx: Any, *size: Any, dtype: Any = None, **kwargs: Any) -> Any:
    return _filled(cx, None, size, 0, dtype or torch.float32)


def full_like(cx: Any, x: Any, fill_value: Any, *, dtype: Any = None, **kwargs: Any) -> Any:
    if cx.is_value(fill_value):
        raise NotConvertible("full_like with a fill value only known when the model runs")
    return _filled(cx, x, cx.op("shape", x), fill_value, dtype)


def zeros_like(cx: Any, x: Any, *, dtype: Any = None, **kwargs: Any) -> Any:
    if dtype is None or dtype == cx.dtype(x):
        return cx.op("zeros_like", x)
    return full_like(cx, x, 0, dtype=dtype)


def ones_like(cx: Any, x: Any, *, dtype: Any = None, **kwargs: Any) -> Any:
    if dtype is None or dtype == cx.dtype(x):
        return cx.op("ones_like", x)
    return full_like(cx, x, 1, dtype=dtype)


def tril(cx: Any, x: Any, diagonal: int = 0) -> Any:
    return cx.op("tril", x, diagonal)


def triu(cx: Any, x: Any, diagonal: int = 0) -> Any:
    return cx.op("triu", x, diagonal)


def gather(cx: Any, x: Any, dim: int, index: Any, **kwargs: Any) -> Any:
    return cx.op("take_along_axis", x, index, dim)


def einsum(cx: Any, equation: str, *operands: Any) -> Any:
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return cx.op("einsum", equation, *operands)


