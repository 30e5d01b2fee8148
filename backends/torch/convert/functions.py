"""What each torch function, tensor method, Python operator and ATen op becomes.

One converter per operation, written against torch's argument names, so a call
``torch.cat(xs, dim=1)``, a method ``x.view(2, -1)`` and an ATen node
``aten.cat.default(xs, 1)`` all bind to the same Python signature. A converter emits
polymod steps through the context ``cx`` (``cx.op('relu', x)`` -> ``ops.relu(x)``) and
returns the value that stands for the result. ``cx.op`` refuses a ``polymod.ops``
function that does not exist yet, so ops still being added to polymod convert as soon
as they land.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F

from .layers import NotConvertible

_BIG = 2 ** 62  # torch writes an open slice end as INT64_MAX


def _op(name: str) -> Callable:
    def convert(cx: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
        return cx.op(name, x)
    convert.__name__ = name
    return convert


def _binary(symbol: str) -> Callable:
    def convert(cx: Any, a: Any, b: Any) -> Any:
        return cx.operator(symbol, a, b)
    return convert


def add(cx: Any, a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return cx.operator("+", a, b if alpha == 1 else cx.operator("*", b, alpha))


def sub(cx: Any, a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return cx.operator("-", a, b if alpha == 1 else cx.operator("*", b, alpha))


def rsub(cx: Any, a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return cx.operator("-", b, a if alpha == 1 else cx.operator("*", a, alpha))


def div(cx: Any, a: Any, b: Any, *, rounding_mode: str | None = None) -> Any:
    if rounding_mode is None:
        return cx.operator("/", a, b)
    if rounding_mode == "floor":
        return cx.operator("//", a, b)
    raise NotConvertible(f"division with rounding_mode={rounding_mode!r}")


def neg(cx: Any, x: Any) -> Any:
    return cx.operator("neg", x)


def bitwise_not(cx: Any, x: Any) -> Any:
    return cx.operator("invert", x)


# -- activations and elementwise ----------------------------------------------------------
def gelu(cx: Any, x: Any, approximate: str = "none") -> Any:
    if approximate == "none":
        return cx.op("gelu", x)
    return cx.op("gelu", x, approximate=approximate)


def softmax(cx: Any, x: Any, dim: int | None = None, *rest: Any, **kwargs: Any) -> Any:
    return cx.op("softmax", x, axis=-1 if dim is None else dim)


def log_softmax(cx: Any, x: Any, dim: int | None = None, *rest: Any, **kwargs: Any) -> Any:
    return cx.op("log_softmax", x, axis=-1 if dim is None else dim)


def leaky_relu(cx: Any, x: Any, negative_slope: float = 0.01, inplace: bool = False) -> Any:
    return cx.op("leaky_relu", x, negative_slope)


def hardtanh(cx: Any, x: Any, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Any:
    if (min_val, max_val) == (0.0, 6.0):
        return cx.op("relu6", x)
    return cx.op("clip", x, min_val, max_val)


def clamp(cx: Any, x: Any, min: Any = None, max: Any = None) -> Any:
    return cx.op("clip", x, min, max)


def pow_(cx: Any, a: Any, b: Any) -> Any:
    return cx.operator("**", a, b)


def dropout(cx: Any, x: Any, p: float = 0.5, training: bool = True, inplace: bool = False
            ) -> Any:
    if not training or p == 0:
        return x
    return cx.op("dropout", x, p)


def identity(cx: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


def nothing(cx: Any, *args: Any, **kwargs: Any) -> Any:
    return None


# -- reductions ---------------------------------------------------------------------------
def _reduction(name: str) -> Callable:
    def convert(cx: Any, x: Any, dim: Any = None, keepdim: bool = False, *,
                dtype: Any = None) -> Any:
        if isinstance(dim, list):
            dim = tuple(dim)
        if dim is not None and not isinstance(dim, (int, tuple)):  # a dtype, positional
            dim = None
        return cx.op(name, x, axis=dim, keepdims=keepdim)
    return convert


def max_(cx: Any, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    if dim is None:
        return cx.op("max", x)
    if not isinstance(dim, int):  # torch.max(a, b): elementwise
        return cx.op("maximum", x, dim)
    raise NotConvertible("torch.max(x, dim) (values and indices); use amax for the values")


def min_(cx: Any, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    if dim is None:
        return cx.op("min", x)
    if not isinstance(dim, int):
        return cx.op("minimum", x, dim)
    raise NotConvertible("torch.min(x, dim) (values and indices); use amin for the values")


def var(cx: Any, x: Any, dim: Any = None, *args: Any, unbiased: Any = None,
        correction: Any = None, keepdim: bool = False) -> Any:
    if args:  # positional unbiased/keepdim of the method form
        unbiased = args[0] if isinstance(args[0], bool) else unbiased
        keepdim = args[1] if len(args) > 1 else keepdim
    if correction is None:
        correction = 0 if unbiased is False else 1
    return cx.op("var", x, axis=_axes(dim), keepdims=keepdim, correction=float(correction))


def std(cx: Any, x: Any, dim: Any = None, *args: Any, unbiased: Any = None,
        correction: Any = None, keepdim: bool = False) -> Any:
    if args:
        unbiased = args[0] if isinstance(args[0], bool) else unbiased
        keepdim = args[1] if len(args) > 1 else keepdim
    if correction is None:
        correction = 0 if unbiased is False else 1
    return cx.op("std", x, axis=_axes(dim), keepdims=keepdim, correction=float(correction))


def _axes(dim: Any) -> Any:
    return tuple(dim) if isinstance(dim, list) else dim


def argmax(cx: Any, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return cx.op("argmax", x, axis=dim, keepdims=keepdim)


def argmin(cx: Any, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return cx.op("argmin", x, axis=dim, keepdims=keepdim)


def logsumexp(cx: Any, x: Any, dim: Any, keepdim: bool = False) -> Any:
    return cx.op("logsumexp", x, axis=_axes(dim), keepdims=keepdim)


def cumsum(cx: Any, x: Any, dim: int, *, dtype: Any = None) -> Any:
    return cx.op("cumsum", x, dim)


# -- shapes -------------------------------------------------------------------------------
def _sizes(args: tuple) -> Any:
    """``x.view(2, 3)`` and ``x.view((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        return tuple(args[0])
    return tuple(args)


def view(cx: Any, x: Any, *shape: Any) -> Any:
    return cx.op("reshape", x, _sizes(shape))


def flatten(cx: Any, x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    rank = cx.rank(x)
    if end_dim in (-1, rank - 1):
        return cx.op("flatten", x, start_dim)
    start = start_dim % rank
    end = end_dim % rank
    sizes = [cx.size(x, d) for d in range(rank)]
    merged = sizes[start]
    for d in range(start + 1, end + 1):
        merged = cx.operator("*", merged, sizes[d])
    return cx.op("reshape", x, tuple(sizes[:start]) + (merged,) + tuple(sizes[end + 1:]))


def permute(cx: Any, x: Any, *dims: Any) -> Any:
    return cx.op("permute_dims", x, _sizes(dims))


def transpose(cx: Any, x: Any, dim0: int, dim1: int) -> Any:
    rank = cx.rank(x)
    axes = list(range(rank))
    a, b = dim0 % rank, dim1 % rank
    axes[a], axes[b] = axes[b], axes[a]
    return cx.op("permute_dims", x, tuple(axes))


def t(cx: Any, x: Any) -> Any:
    return x if cx.rank(x) < 2 else cx.op("permute_dims", x, (1, 0))


def unsqueeze(cx: Any, x: Any, dim: int) -> Any:
    return cx.op("expand_dims", x, dim)


def squeeze(cx: Any, x: Any, dim: Any = None) -> Any:
    if dim is None:
        shape = cx.shape(x)
        dims = tuple(i for i, n in enumerate(shape) if n == 1)
    else:
        dims = tuple(dim) if isinstance(dim, (list, tuple)) else (dim,)
        shape = cx.shape(x)
        dims = tuple(d % len(shape) for d in dims if shape[d] == 1)
    for d in sorted(dims, reverse=True):
        x = cx.op("squeeze", x, d)
    return x


def size(cx: Any, x: Any, dim: Any = None) -> Any:
    if dim is None:
        return cx.op("shape", x)
    return cx.size(x, dim)


def dim(cx: Any, x: Any) -> Any:
    return cx.rank(x)


def getattr_(cx: Any, x: Any, name: str) -> Any:
    if name == "shape":
        return cx.op("shape", x)
    if name == "ndim":
        return cx.rank(x)
    if name == "T":
        return cx.op("permute_dims", x)
    raise NotConvertible(f"the tensor attribute .{name}")


def getitem(cx: Any, x: Any, index: Any) -> Any:
    items = index if isinstance(index, tuple) else (index,)
    if any(cx.is_tensor(i) for i in items):
        raise NotConvertible("indexing with a tensor (advanced indexing)")
    return cx.getitem(x, index)


def slice_(cx: Any, x: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1
           ) -> Any:
    if isinstance(end, int) and end >= _BIG:
        end = None
    if start == 0:
        start = None
    if (start, end, step) == (None, None, 1):
        return x
    dim = dim % cx.rank(x)
    return cx.getitem(x, (slice(None),) * dim + (slice(start, end, None if step == 1 else step),))


def select(cx: Any, x: Any, dim: int, index: Any) -> Any:
    dim = dim % cx.rank(x)
    return cx.getitem(x, (slice(None),) * dim + (index,))


def cat(cx: Any, tensors: Any, dim: int = 0) -> Any:
    return cx.op("concat", list(tensors), axis=dim)


def stack(cx: Any, tensors: Any, dim: int = 0) -> Any:
    return cx.op("stack", list(tensors), axis=dim)


def split(cx: Any, x: Any, split_size: Any, dim: int = 0) -> Any:
    total = cx.shape(x)[dim]
    if isinstance(split_size, int) and isinstance(total, int) and total % split_size == 0:
        return cx.op("split", x, total // split_size, axis=dim)
    raise NotConvertible(f"split into unequal parts (size {total}, split_size {split_size})")


def chunk(cx: Any, x: Any, chunks: int, dim: int = 0) -> Any:
    total = cx.shape(x)[dim]
    if isinstance(total, int) and total % chunks == 0:
        return cx.op("split", x, chunks, axis=dim)
    raise NotConvertible(f"chunk into unequal parts (size {total}, chunks {chunks})")


def expand(cx: Any, x: Any, *sizes: Any, **kwargs: Any) -> Any:
    sizes = _sizes(sizes)
    shape = cx.shape(x)
    offset = len(sizes) - len(shape)
    resolved = []
    for i, s in enumerate(sizes):
        if isinstance(s, int) and s == -1:  # keep x's size: static, or read when it runs
            s = shape[i - offset] if shape[i - offset] is not None else cx.size(x, i - offset)
        resolved.append(s)
    return cx.op("broadcast_to", x, tuple(resolved))


def to(cx: Any, x: Any, *args: Any, dtype: Any = None, **kwargs: Any) -> Any:
    for arg in args:
        if isinstance(arg, torch.dtype):
            dtype = arg
        elif isinstance(arg, torch.Tensor) or cx.is_tensor(arg):
            dtype = cx.dtype(arg)
    if dtype is None or dtype == cx.dtype(x):
        return x
    return cx.op("astype", x, cx.dtype_name(dtype))


def float_(cx: Any, x: Any, *args: Any) -> Any:
    return to(cx, x, torch.float32)


def type_as(cx: Any, x: Any, other: Any) -> Any:
    return to(cx, x, cx.dtype(other))


def masked_fill(cx: Any, x: Any, mask: Any, value: Any) -> Any:
    if cx.is_tensor(value):
        raise NotConvertible("masked_fill with a tensor value")
    return cx.op("masked_fill", x, mask, float(value))


def where(cx: Any, condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None:
        raise NotConvertible("torch.where(condition) (indices of the True elements)")
    return cx.op("where", condition, x, y)


def matmul(cx: Any, a: Any, b: Any) -> Any:
    return cx.operator("@", a, b)


def addmm(cx: Any, bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    product = cx.operator("@", a, b)
    if alpha != 1:
        product = cx.operator("*", product, alpha)
    if beta != 1:
        bias = cx.operator("*", bias, beta)
    return cx.operator("+", bias, product)


def baddbmm(cx: Any, bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    return addmm(cx, bias, a, b, beta=beta, alpha=alpha)


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


#: Converters by torch's name: the same for ``torch.<name>``, ``F.<name>``, the tensor
#: method ``x.<name>(...)`` and the ATen op ``aten.<name>``.
SHARED: dict[str, Callable] = {
    "add": add, "sub": sub, "subtract": sub, "rsub": rsub, "mul": _binary("*"),
    "multiply": _binary("*"), "div": div, "divide": div, "true_divide": div,
    "floor_divide": _binary("//"), "remainder": _binary("%"), "fmod": _binary("%"),
    "pow": pow_, "neg": neg, "negative": neg, "matmul": matmul, "mm": matmul, "bmm": matmul,
    "addmm": addmm, "baddbmm": baddbmm,
    "eq": _binary("=="), "ne": _binary("!="), "lt": _binary("<"), "le": _binary("<="),
    "gt": _binary(">"), "ge": _binary(">="), "logical_and": _binary("&"),
    "bitwise_and": _binary("&"), "logical_or": _binary("|"), "bitwise_or": _binary("|"),
    "logical_not": bitwise_not, "bitwise_not": bitwise_not,
    "__and__": _binary("&"), "__or__": _binary("|"),
    "relu": _op("relu"), "relu_": _op("relu"), "sigmoid": _op("sigmoid"), "tanh": _op("tanh"),
    "exp": _op("exp"), "log": _op("log"), "sqrt": _op("sqrt"), "rsqrt": _op("rsqrt"),
    "abs": _op("abs"), "silu": _op("silu"), "erf": _op("erf"), "sin": _op("sin"),
    "cos": _op("cos"), "square": _op("square"), "relu6": _op("relu6"),
    "hardswish": _op("hardswish"), "hardsigmoid": _op("hardsigmoid"),
    "softplus": _op("softplus"), "elu": _op("elu"), "gelu": gelu, "softmax": softmax,
    "_softmax": softmax, "log_softmax": log_softmax, "_log_softmax": log_softmax,
    "leaky_relu": leaky_relu, "hardtanh": hardtanh, "clamp": clamp, "clip": clamp,
    "dropout": dropout, "contiguous": identity, "clone": identity, "alias": identity,
    "lift_fresh_copy": identity, "detach": _op("stop_gradient"),
    "sum": _reduction("sum"), "mean": _reduction("mean"), "amax": _reduction("max"),
    "amin": _reduction("min"), "max": max_, "min": min_, "var": var, "std": std, "argmax": argmax, "argmin": argmin,
    "logsumexp": logsumexp, "cumsum": cumsum,
    "view": view, "reshape": view, "_unsafe_view": view, "flatten": flatten,
    "permute": permute, "transpose": transpose, "t": t, "unsqueeze": unsqueeze,
    "squeeze": squeeze, "size": size, "sym_size": size, "dim": dim, "getattr": getattr_,
    "getitem": getitem, "slice": slice_, "select": select, "cat": cat, "concat": cat,
    "stack": stack, "split": split, "chunk": chunk, "expand": expand, "to": to,
    "_to_copy": to, "float": float_, "type_as": type_as, "masked_fill": masked_fill,
    "where": where, "linear": linear, "conv1d": conv, "conv2d": conv,
    "max_pool2d": max_pool2d, "avg_pool2d": avg_pool2d,
    "adaptive_avg_pool2d": adaptive_avg_pool2d, "layer_norm": layer_norm,
    "scaled_dot_product_attention": sdpa, "arange": arange, "tril": tril, "triu": triu,
    "gather": gather, "einsum": einsum,
    "_assert_tensor_metadata": nothing, "_assert_scalar": nothing,
    "sym_constrain_range_for_size": nothing,
}
SHARED["maximum"] = lambda cx, a, b: cx.op("maximum", a, b)
SHARED["minimum"] = lambda cx, a, b: cx.op("minimum", a, b)

#: Python operators fx records.
OPERATORS: dict[Callable, Callable] = {
    operator.add: add, operator.iadd: add, operator.sub: sub, operator.isub: sub,
    operator.mul: _binary("*"), operator.imul: _binary("*"), operator.truediv: div,
    operator.itruediv: div, operator.floordiv: _binary("//"), operator.mod: _binary("%"),
    operator.pow: pow_, operator.matmul: matmul, operator.neg: neg,
    operator.eq: _binary("=="), operator.ne: _binary("!="), operator.lt: _binary("<"),
    operator.le: _binary("<="), operator.gt: _binary(">"), operator.ge: _binary(">="),
    operator.and_: _binary("&"), operator.or_: _binary("|"), operator.invert: bitwise_not,
    operator.getitem: getitem, getattr: getattr_,
}


def _math(name: str) -> Callable:
    fn = getattr(math, name)

    def convert(cx: Any, *args: Any) -> Any:
        if any(cx.is_value(a) for a in args):
            raise NotConvertible(f"math.{name} on a value only known when the model runs")
        return fn(*args)
    return convert


def function_table() -> dict[Callable, Callable]:
    """``{torch / F / operator callable: converter}`` for fx's ``call_function`` nodes."""
    table: dict[Callable, Callable] = dict(OPERATORS)
    for name, convert in SHARED.items():
        for namespace in (torch, F, torch.Tensor, torch.special):
            fn = getattr(namespace, name, None)
            if callable(fn) and fn not in table:
                table[fn] = convert
    table[F.embedding] = embedding_function
    table[torch.embedding] = embedding_aten
    table[F.dropout] = dropout
    for name in ("sqrt", "exp", "log", "floor", "ceil"):
        table[getattr(math, name)] = _math(name)
    return table


#: ATen ops whose arguments differ from the torch function of the same name.
ATEN: dict[str, Callable] = {"embedding": embedding_aten}
