"""The functional forms of layers: linear, embedding, dropout, convolution, pooling."""

from __future__ import annotations

from typing import Any

from ._dispatch import dispatch, ints, of


def matmul(a: Any, b: Any) -> Any:
    """Matrix product (same as ``a @ b``)."""
    adapter, (a, b) = dispatch(a, b)
    return adapter.matmul(a, b)


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """``x @ weight.T + bias`` with ``weight`` in the neutral ``(out, in)`` layout."""
    return of(x).linear(x, weight, bias)


def embedding(indices: Any, weight: Any, padding_idx: int | None = None) -> Any:
    """Rows of ``weight`` (num_embeddings, dim) at integer ``indices`` (PyTorch's F.embedding).

    With ``padding_idx``, that row receives no gradient, as in PyTorch.
    """
    return of(weight).embedding(indices, weight, padding_idx)


def dropout(x: Any, p: float = 0.5, training: bool = True) -> Any:
    """Zeroes elements with probability ``p`` (mask from polymod's seeded generator, or
    from the framework's own inside a traced graph) and scales the rest by 1/(1-p)."""
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    return of(x).dropout(x, float(p))


def _spatial(adapter: Any, x: Any, op: str) -> int:
    """The number of spatial axes of NC* input ``x`` (1 or 2)."""
    nd = len(adapter.shape(x)) - 2
    if nd not in (1, 2):
        raise ValueError(f"ops.{op} expects (N, C, L) or (N, C, H, W) input; received shape "
                         f"{tuple(adapter.shape(x))}.")
    return nd


def conv(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
         dilation: Any = 1, groups: int = 1) -> Any:
    """1-D or 2-D convolution in PyTorch's layout (``F.conv1d``/``F.conv2d``): ``x``
    (N, C, *spatial), ``weight`` (out, C / groups, *kernel); ``padding`` an int or one
    int per spatial dimension (symmetric)."""
    adapter = of(x)
    nd = len(adapter.shape(x)) - 2
    pads = tuple((p, p) for p in ints(padding, nd, "padding"))
    return adapter.conv(x, weight, bias, ints(stride, nd, "stride"), pads,
                        ints(dilation, nd, "dilation"), groups)


def conv_transpose(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                   output_padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Any:
    """1-D or 2-D transposed convolution (``F.conv_transpose1d``/``2d``): ``x`` (N, C_in,
    *spatial), ``weight`` in PyTorch's layout (C_in, C_out / groups, *kernel).

    Each output size is ``(n - 1) * stride - 2 * padding + dilation * (k - 1) +
    output_padding + 1``; ``output_padding`` must be smaller than ``stride`` or
    ``dilation`` (PyTorch's rule).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> x, w = pm.ones(1, 2, 3, backend="numpy"), pm.ones(2, 1, 2, backend="numpy")
        >>> ops.conv_transpose(x, w, stride=2).tolist()
        [[[2.0, 2.0, 2.0, 2.0, 2.0, 2.0]]]
    """
    adapter = of(x)
    nd = _spatial(adapter, x, "conv_transpose")
    stride, dilation = ints(stride, nd, "stride"), ints(dilation, nd, "dilation")
    extra = ints(output_padding, nd, "output_padding")
    if any(e >= s and e >= d for e, s, d in zip(extra, stride, dilation, strict=True)):
        raise ValueError(f"ops.conv_transpose: output_padding {extra} must be smaller than "
                         f"stride {stride} or dilation {dilation}.")
    return adapter.conv_transpose(x, weight, bias, stride, ints(padding, nd, "padding"), extra,
                                  dilation, int(groups))


def _pool_args(kernel_size: Any, stride: Any, padding: Any, n: int) -> tuple:
    kernel = ints(kernel_size, n, "kernel_size")
    stride = kernel if stride is None else ints(stride, n, "stride")
    padding = ints(padding, n, "padding")
    if any(2 * p > k for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(f"pooling padding {padding} must be at most half of kernel_size "
                         f"{kernel} (as in PyTorch).")
    return kernel, stride, padding


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """Max pooling of (N, C, H, W) input (``F.max_pool2d``); NaN in a window gives NaN."""
    return of(x).max_pool2d(x, *_pool_args(kernel_size, stride, padding, 2))


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """Average pooling of (N, C, H, W) input, zero padding counted (``F.avg_pool2d``)."""
    return of(x).avg_pool2d(x, *_pool_args(kernel_size, stride, padding, 2))


def _pool1d(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any) -> Any:
    # (N, C, L) as (N, C, 1, L): the 2-D kernels of every backend, same numbers
    adapter = of(x)
    kernel, stride, padding = _pool_args(kernel_size, stride, padding, 1)
    fused = adapter.FUSED.get(op.replace("2d", "1d"))
    if fused is not None:
        return fused(x, kernel, stride, padding)
    out = getattr(adapter, op)(adapter.expand_dims(x, 2), (1,) + kernel, (1,) + stride,
                               (0,) + padding)
    return adapter.squeeze(out, 2)


def max_pool1d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """Max pooling of (N, C, L) input (``F.max_pool1d``); NaN in a window gives NaN."""
    return _pool1d("max_pool2d", x, kernel_size, stride, padding)


def avg_pool1d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """Average pooling of (N, C, L) input, zero padding counted (``F.avg_pool1d``)."""
    return _pool1d("avg_pool2d", x, kernel_size, stride, padding)


def _bounds(i: int, n: int, out: int) -> tuple[int, int]:
    """PyTorch's adaptive window ``i`` of ``out`` over ``n``: [floor(i n/out), ceil((i+1) n/out))."""
    return (i * n) // out, -((-(i + 1) * n) // out)


def adaptive_avg_pool2d(x: Any, output_size: Any) -> Any:
    """Mean over the windows that split (H, W) into ``output_size`` (PyTorch's rule;
    None in ``output_size`` keeps that size).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> ops.adaptive_avg_pool2d(pm.rand(2, 3, 5, 7, backend="numpy"), (1, 1)).shape
        (2, 3, 1, 1)
    """
    adapter = of(x)
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size, output_size)
    output_size = tuple(output_size)
    if len(output_size) != 2:
        raise ValueError(f"output_size must be an int or a pair; received {output_size!r}.")
    h, w = (int(n) for n in adapter.shape(x)[2:4])
    oh = h if output_size[0] is None else int(output_size[0])
    ow = w if output_size[1] is None else int(output_size[1])
    fused = adapter.FUSED.get("adaptive_avg_pool2d")
    if fused is not None:
        return fused(x, (oh, ow))
    if (oh, ow) == (1, 1):
        return adapter.mean(x, (2, 3), True)
    if h % oh == 0 and w % ow == 0:
        kernel = (h // oh, w // ow)
        return adapter.avg_pool2d(x, kernel, kernel, (0, 0))
    rows = []
    for i in range(oh):
        h0, h1 = _bounds(i, h, oh)
        cells = []
        for j in range(ow):
            w0, w1 = _bounds(j, w, ow)
            cells.append(adapter.mean(x[:, :, h0:h1, w0:w1], (2, 3), True))
        rows.append(adapter.concat(cells, 3))
    return adapter.concat(rows, 2)


def adaptive_avg_pool1d(x: Any, output_size: int) -> Any:
    """Mean over the windows that split L of (N, C, L) input into ``output_size``."""
    adapter = of(x)
    fused = adapter.FUSED.get("adaptive_avg_pool1d")
    if fused is not None:
        return fused(x, int(output_size))
    out = adaptive_avg_pool2d(adapter.expand_dims(x, 2), (1, output_size))
    return adapter.squeeze(out, 2)
