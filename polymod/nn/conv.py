"""Convolution and pooling layers, PyTorch's layout: data (N, C, L) / (N, C, H, W),
weights (out_channels, in_channels / groups, *kernel_size).

Each backend runs its own convolution op in that layout (TensorFlow's NCHW kernels,
MXNet's ``npx.convolution``, ``F.conv2d``); the NumPy reference computes it with an
im2col + einsum in float64.
"""

from __future__ import annotations

from typing import Any

from .. import init as _init
from .. import ops
from ..errors import ShapeError
from ..handles import Parameter
from ..module import Module
from ..module.lazy import check_shapes


def _tuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    try:
        out = tuple(int(v) for v in value)
    except TypeError:
        out = ()
    if len(out) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints; received {value!r}.")
    return out


class _ConvNd(Module):
    nd = 2

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, in_channels: int | None, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros"):
        super().__init__()
        nd = self.nd
        if padding_mode != "zeros":
            raise ValueError(f"Only padding_mode='zeros' is supported; received "
                             f"{padding_mode!r}.")
        if not isinstance(out_channels, int) or out_channels <= 0:
            raise ValueError(f"out_channels must be a positive int; received {out_channels!r}.")
        if not isinstance(groups, int) or groups <= 0 or out_channels % groups:
            raise ValueError(f"groups must be a positive int dividing out_channels "
                             f"({out_channels}); received groups={groups!r}.")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size")
        self.stride = _tuple(stride, nd, "stride")
        self.dilation = _tuple(dilation, nd, "dilation")
        self.groups = groups
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding must be 'same', 'valid', an int or a tuple; "
                                 f"received {padding!r}.")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions "
                                 "(as in PyTorch); give the padding as numbers.")
            self.padding: Any = padding
        else:
            self.padding = _tuple(padding, nd, "padding")
        self._pads = self._resolve_padding()
        self.weight = Parameter()
        self.bias = Parameter() if bias else None
        if in_channels is not None:
            self.build()

    def _resolve_padding(self) -> tuple[tuple[int, int], ...]:
        """(lo, hi) per spatial dimension; 'same' puts the odd extra on the right (PyTorch)."""
        if self.padding == "valid":
            return ((0, 0),) * self.nd
        if self.padding == "same":
            pads = []
            for k, d in zip(self.kernel_size, self.dilation, strict=True):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        return tuple((p, p) for p in self.padding)

    def build(self, X: Any = None) -> None:
        if self.in_channels is None:  # from a loaded weight, else from the first input
            weight = self._params["weight"]
            self.in_channels = (weight.shape[1] * self.groups if weight.materialized
                                else int(X.shape[1]))
        if self.in_channels % self.groups:
            raise ValueError(f"groups={self.groups} must divide in_channels "
                             f"({self.in_channels}).")
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        params = self._params
        params["weight"].materialize(shape)
        if "bias" in params:
            fan_in, _ = _init.fans(shape)
            params["bias"].materialize((self.out_channels,), default=_init.default_bias(fan_in))
        self.__dict__["_built"] = True

    def check_lazy_shapes(self, shapes: dict[str, tuple]) -> str | None:
        per_group = ("in_channels/groups" if self.in_channels is None
                     else self.in_channels // self.groups)
        return check_shapes(self, shapes, {
            "weight": (self.out_channels, per_group, *self.kernel_size),
            "bias": (self.out_channels,)})

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"conv": adapter.conv}

    def forward(self, X: Any) -> Any:
        return self._bound.conv(X, self.weight, self.bias, self.stride, self._pads, self.dilation,
                             self.groups)

    def check_input(self, X: Any, *rest: Any) -> ShapeError | None:
        shape = tuple(X.shape)
        name = type(self).__name__
        if len(shape) != self.nd + 2:
            layout = "(N, C, L)" if self.nd == 1 else "(N, C, H, W)"
            return ShapeError(f"{name} expects {self.nd + 2}-D input {layout}; received "
                              f"shape {shape}.")
        if self.in_channels is not None and shape[1] != self.in_channels:
            return ShapeError(f"{name} expects {self.in_channels} input channels (dimension "
                              f"1, layout NC...); received shape {shape}.")
        return None

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0,) * self.nd:
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self.nd:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if "bias" not in self._params:
            text += ", bias=False"
        return text


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) input, as ``torch.nn.Conv1d``.

    Example:
        >>> import polymod as pm
        >>> conv = pm.nn.Conv1d(4, 8, kernel_size=3, padding="same")
        >>> conv(pm.rand(2, 4, 10, backend="numpy")).shape
        (2, 8, 10)
    """

    nd = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) input, as ``torch.nn.Conv2d``.

    Args:
        in_channels: input channels; None to infer them from the first input.
        out_channels: output channels.
        kernel_size, stride, padding, dilation: an int or a pair; ``padding`` may
            also be ``'same'`` (stride 1) or ``'valid'``.
        groups: blocked connections from input to output channels.
        bias: whether to learn an additive bias.

    Example:
        >>> import polymod as pm
        >>> conv = pm.nn.Conv2d(1, 6, kernel_size=5, padding=2)
        >>> conv.weight.shape
        (6, 1, 5, 5)
        >>> conv(pm.rand(2, 1, 28, 28, backend="numpy")).shape
        (2, 6, 28, 28)
    """

    nd = 2


def LazyConv1d(out_channels: int, kernel_size: Any, stride: Any = 1,  # noqa: N802
               padding: Any = 0, dilation: Any = 1, groups: int = 1,
               bias: bool = True, dtype: Any = None) -> Conv1d:
    """A ``Conv1d`` whose ``in_channels`` come from the first input (PyTorch habit)."""
    return Conv1d(None, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                  dtype=dtype)


def LazyConv2d(out_channels: int, kernel_size: Any, stride: Any = 1,  # noqa: N802
               padding: Any = 0, dilation: Any = 1, groups: int = 1,
               bias: bool = True, dtype: Any = None) -> Conv2d:
    """A ``Conv2d`` whose ``in_channels`` come from the first input (PyTorch habit).

    Example:
        >>> import polymod as pm
        >>> conv = pm.nn.LazyConv2d(6, kernel_size=5, padding=2)
        >>> _ = conv(pm.rand(1, 3, 8, 8, backend="numpy"))
        >>> type(conv).__name__, conv.in_channels
        ('Conv2d', 3)
    """
    return Conv2d(None, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                  dtype=dtype)


class _Pool2d(Module):
    op_name = ""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        super().__init__()
        self.kernel_size = _tuple(kernel_size, 2, "kernel_size")
        self.stride = self.kernel_size if stride is None else _tuple(stride, 2, "stride")
        self.padding = _tuple(padding, 2, "padding")
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(f"padding {self.padding} must be at most half of kernel_size "
                             f"{self.kernel_size} (as in PyTorch).")

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"pool": getattr(adapter, self.op_name)}

    def forward(self, X: Any) -> Any:
        return self._bound.pool(X, self.kernel_size, self.stride, self.padding)

    def check_input(self, X: Any, *rest: Any) -> ShapeError | None:
        if len(tuple(X.shape)) != 4:
            return ShapeError(f"{type(self).__name__} expects 4-D input (N, C, H, W); "
                              f"received shape {tuple(X.shape)}.")
        return None

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max over windows of (N, C, H, W) input; padding counts as -inf; NaN in a window
    gives NaN on every backend (as PyTorch).

    Example:
        >>> import polymod as pm
        >>> pm.nn.MaxPool2d(2)(pm.rand(1, 1, 4, 4, backend="numpy")).shape
        (1, 1, 2, 2)
    """

    op_name = "max_pool2d"


class AvgPool2d(_Pool2d):
    """Mean over windows of (N, C, H, W) input; zero padding is counted (PyTorch's
    ``count_include_pad=True``).

    Example:
        >>> import polymod as pm
        >>> pm.nn.AvgPool2d(2, stride=2)(pm.ones(1, 1, 4, 4, backend="numpy")).shape
        (1, 1, 2, 2)
    """

    op_name = "avg_pool2d"


class AdaptiveAvgPool2d(Module):
    """Mean over the windows that split (H, W) into ``output_size`` (PyTorch's rule).

    Example:
        >>> import polymod as pm
        >>> pm.nn.AdaptiveAvgPool2d((1, 1))(pm.rand(2, 3, 5, 7, backend="numpy")).shape
        (2, 3, 1, 1)
    """

    def __init__(self, output_size: Any):
        super().__init__()
        if isinstance(output_size, int) or output_size is None:
            output_size = (output_size, output_size)
        self.output_size = tuple(output_size)
        if len(self.output_size) != 2:
            raise ValueError(f"output_size must be an int or a pair; received {output_size!r}.")

    def forward(self, X: Any) -> Any:
        return ops.adaptive_avg_pool2d(X, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
