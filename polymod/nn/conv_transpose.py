"""Transposed convolution layers, PyTorch's layout: data (N, C, L) / (N, C, H, W), weights
(in_channels, out_channels / groups, *kernel_size), as ``torch.nn.ConvTranspose1d/2d``.

Each backend runs its own op (``F.conv_transpose2d``, MXNet's ``npx.deconvolution``,
TensorFlow's input gradient of an NHWC convolution, which has CPU gradients); the NumPy
reference scatters ``x * w`` in float64.
"""

from __future__ import annotations

from typing import Any

from .. import init as _init
from .. import ops
from ..errors import ShapeError
from ..handles import Parameter
from ..module import Module
from .conv import _tuple


class _ConvTransposeNd(Module):
    nd = 2

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros"):
        super().__init__()
        nd = self.nd
        if padding_mode != "zeros":
            raise ValueError(f"Only padding_mode='zeros' is supported (as in PyTorch's "
                             f"transposed convolutions); received {padding_mode!r}.")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("groups", groups)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive int; received {name}={value!r}.")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels ({in_channels}) and "
                             f"out_channels ({out_channels}).")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size")
        self.stride = _tuple(stride, nd, "stride")
        self.padding = _tuple(padding, nd, "padding")
        self.output_padding = _tuple(output_padding, nd, "output_padding")
        self.dilation = _tuple(dilation, nd, "dilation")
        if any(e >= s and e >= d for e, s, d in zip(self.output_padding, self.stride,
                                                     self.dilation, strict=True)):
            raise ValueError(f"output_padding {self.output_padding} must be smaller than "
                             f"stride {self.stride} or dilation {self.dilation}.")
        shape = (in_channels, out_channels // groups) + self.kernel_size
        self.weight = Parameter(shape=shape)  # the default scheme (kaiming-uniform, a=sqrt 5)
        if bias:
            fan_in, _ = _init.fans(shape)  # PyTorch's: weight.size(1) * kernel
            handle = Parameter()
            handle.materialize((out_channels,), default=_init.default_bias(fan_in))
            self.bias = handle
        else:
            self.bias = None

    def _output_padding(self, X: Any, output_size: Any) -> tuple[int, ...]:
        """The output padding that gives ``output_size`` (PyTorch's ``forward(input,
        output_size)``)."""
        if output_size is None:
            return self.output_padding
        size = tuple(int(n) for n in output_size)[-self.nd:]
        extra = []
        for n, want, s, p, k, d in zip(tuple(X.shape)[2:], size, self.stride, self.padding,
                                       self.kernel_size, self.dilation, strict=True):
            smallest = (int(n) - 1) * s - 2 * p + d * (k - 1) + 1
            if not 0 <= want - smallest < max(s, d):
                raise ShapeError(f"{type(self).__name__}: output_size {size} is not reachable "
                                 f"from input shape {tuple(X.shape)}; each size must be in "
                                 f"[{smallest}, {smallest + max(s, d) - 1}] here.")
            extra.append(want - smallest)
        return tuple(extra)

    def forward(self, X: Any, output_size: Any = None) -> Any:
        return ops.conv_transpose(X, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(X, output_size), self.dilation,
                                  self.groups)

    def check_input(self, X: Any, *rest: Any) -> ShapeError | None:
        shape = tuple(X.shape)
        name = type(self).__name__
        if len(shape) != self.nd + 2:
            layout = "(N, C, L)" if self.nd == 1 else "(N, C, H, W)"
            return ShapeError(f"{name} expects {self.nd + 2}-D input {layout}; received "
                              f"shape {shape}.")
        if shape[1] != self.in_channels:
            return ShapeError(f"{name} expects {self.in_channels} input channels (dimension "
                              f"1, layout NC...); received shape {shape}.")
        return None

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        for name, neutral in (("padding", 0), ("output_padding", 0), ("dilation", 1)):
            value = getattr(self, name)
            if value != (neutral,) * self.nd:
                text += f", {name}={value}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C, L) input, as ``torch.nn.ConvTranspose1d``.

    Example:
        >>> import polymod as pm
        >>> up = pm.nn.ConvTranspose1d(4, 2, kernel_size=4, stride=2, padding=1)
        >>> up(pm.rand(1, 4, 5, backend="numpy")).shape
        (1, 2, 10)
    """

    nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over (N, C, H, W) input, as ``torch.nn.ConvTranspose2d``.

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size, stride, padding, output_padding, dilation: an int or a pair; each
            output size is ``(n - 1) * stride - 2 * padding + dilation * (k - 1) +
            output_padding + 1``.
        groups: blocked connections from input to output channels.
        bias: whether to learn an additive bias.

    ``forward(X, output_size=None)`` may name the output size instead of
    ``output_padding``, as in PyTorch.

    Example:
        >>> import polymod as pm
        >>> up = pm.nn.ConvTranspose2d(8, 4, kernel_size=2, stride=2)
        >>> up.weight.shape
        (8, 4, 2, 2)
        >>> up(pm.rand(1, 8, 3, 3, backend="numpy")).shape
        (1, 4, 6, 6)
    """

    nd = 2
