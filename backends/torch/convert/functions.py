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
from .nn_functions import (
    adaptive_avg_pool2d,
    arange,
    avg_pool2d,
    conv,
    einsum,
    embedding_aten,
    embedding_function,
    full,
    full_like,
    gather,
    layer_norm,
    linear,
    max_pool2d,
    new_full,
    new_ones,
    new_zeros,
    ones,
    ones_like,
    sdpa,
    tril,
    triu,
    zeros,
    zeros_like,
)
from .shapes import (
    addmm,
    baddbmm,
    cat,
    chunk,
    diff,
    dim,
    expand,
    flatten,
    float_,
    getattr_,
    getitem,
    index_,
    masked_fill,
    matmul,
    permute,
    select,
    size,
    slice_,
    split,
    squeeze,
    stack,
    t,
    to,
    transpose,
    type_as,
    unsqueeze,
    view,
    where,
)


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


def _is_bool(cx: Any, *values: Any) -> bool:
    return any(cx.dtype(v) == torch.bool for v in values if cx.is_tensor(v))


def _bitwise(symbol: str, logical: str) -> Callable:
    """``&``, ``|``, ``^`` and their functions: on booleans ``ops.logical_*`` (MXNet has
    no ``&`` on bool arrays), else the Python operator."""
    def convert(cx: Any, a: Any, b: Any) -> Any:
        if _is_bool(cx, a, b):
            return cx.op(logical, a, b)
        return cx.operator(symbol, a, b)
    return convert


def _logical(name: str) -> Callable:
    def convert(cx: Any, a: Any, b: Any) -> Any:
        if not cx.is_value(a) and not cx.is_value(b):
            return _fold_logical(name, a, b)
        return cx.op(name, a, b)
    return convert


def _fold_logical(name: str, a: Any, b: Any) -> bool:
    return {"logical_and": bool(a) and bool(b), "logical_or": bool(a) or bool(b),
            "logical_xor": bool(a) != bool(b)}[name]


def bitwise_not(cx: Any, x: Any) -> Any:
    if _is_bool(cx, x):
        return cx.op("logical_not", x)
    return cx.operator("invert", x)


def logical_not(cx: Any, x: Any) -> Any:
    if not cx.is_value(x):
        return not x
    return cx.op("logical_not", x)


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


#: Converters by torch's name: the same for ``torch.<name>``, ``F.<name>``, the tensor
#: method ``x.<name>(...)`` and the ATen op ``aten.<name>``.
SHARED: dict[str, Callable] = {
    "add": add, "sub": sub, "subtract": sub, "rsub": rsub, "mul": _binary("*"),
    "multiply": _binary("*"), "div": div, "divide": div, "true_divide": div,
    "floor_divide": _binary("//"), "remainder": _binary("%"), "fmod": _binary("%"),
    "pow": pow_, "neg": neg, "negative": neg, "matmul": matmul, "mm": matmul, "bmm": matmul,
    "addmm": addmm, "baddbmm": baddbmm,
    "eq": _binary("=="), "ne": _binary("!="), "lt": _binary("<"), "le": _binary("<="),
    "gt": _binary(">"), "ge": _binary(">="), "logical_and": _logical("logical_and"),
    "logical_or": _logical("logical_or"), "logical_xor": _logical("logical_xor"),
    "logical_not": logical_not, "bitwise_and": _bitwise("&", "logical_and"),
    "bitwise_or": _bitwise("|", "logical_or"), "bitwise_xor": _bitwise("^", "logical_xor"),
    "bitwise_not": bitwise_not, "__and__": _bitwise("&", "logical_and"),
    "__or__": _bitwise("|", "logical_or"), "__xor__": _bitwise("^", "logical_xor"),
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
    "gather": gather, "einsum": einsum, "index": index_, "diff": diff,
    "new_ones": new_ones, "new_zeros": new_zeros, "new_empty": new_zeros, "new_full": new_full,
    "ones": ones, "zeros": zeros, "empty": zeros, "full": full, "ones_like": ones_like,
    "zeros_like": zeros_like, "empty_like": zeros_like, "full_like": full_like,
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
    operator.and_: _bitwise("&", "logical_and"), operator.or_: _bitwise("|", "logical_or"),
    operator.xor: _bitwise("^", "logical_xor"), operator.invert: bitwise_not,
    operator.iand: _bitwise("&", "logical_and"), operator.ior: _bitwise("|", "logical_or"),
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
