"""1-D pooling layers over (N, C, L) input, as ``torch.nn.MaxPool1d``, ``AvgPool1d`` and
``AdaptiveAvgPool1d``: each backend runs its 2-D pooling kernel on (N, C, 1, L)."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..errors import ShapeError
from ..module import Module
from .conv import _tuple


def _unsupported(layer: str, **options: Any) -> None:
    for name, (value, default) in options.items():
        if value != default:
            raise ValueError(f"{layer}: {name}={value!r} is not supported by polymod; only "
                             f"{name}={default!r} (PyTorch's default).")


class _Pool1d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        super().__init__()
        self.kernel_size = _tuple(kernel_size, 1, "kernel_size")
        self.stride = self.kernel_size if stride is None else _tuple(stride, 1, "stride")
        self.padding = _tuple(padding, 1, "padding")
        if 2 * self.padding[0] > self.kernel_size[0]:
            raise ValueError(f"padding {self.padding} must be at most half of kernel_size "
                             f"{self.kernel_size} (as in PyTorch).")

    def check_input(self, X: Any, *rest: Any) -> ShapeError | None:
        if len(tuple(X.shape)) != 3:
            return ShapeError(f"{type(self).__name__} expects 3-D input (N, C, L); received "
                              f"shape {tuple(X.shape)}.")
        return None

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_Pool1d):
    """Max over windows of (N, C, L) input; padding counts as -inf; a NaN in a window gives
    NaN on every backend (as PyTorch).

    Example:
        >>> import polymod as pm
        >>> pm.nn.MaxPool1d(2)(pm.rand(1, 3, 8, backend="numpy")).shape
        (1, 3, 4)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False, ceil_mode: bool = False):
        _unsupported("MaxPool1d", dilation=(dilation, 1), return_indices=(return_indices, False),
                     ceil_mode=(ceil_mode, False))
        super().__init__(kernel_size, stride, padding)

    def forward(self, X: Any) -> Any:
        return ops.max_pool1d(X, self.kernel_size, self.stride, self.padding)


class AvgPool1d(_Pool1d):
    """Mean over windows of (N, C, L) input; the zero padding is counted (PyTorch's
    ``count_include_pad=True``).

    Example:
        >>> import polymod as pm
        >>> pm.nn.AvgPool1d(3, stride=2, padding=1)(pm.ones(1, 2, 6, backend="numpy")).shape
        (1, 2, 3)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True):
        _unsupported("AvgPool1d", ceil_mode=(ceil_mode, False),
                     count_include_pad=(count_include_pad, True))
        super().__init__(kernel_size, stride, padding)

    def forward(self, X: Any) -> Any:
        return ops.avg_pool1d(X, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool1d(Module):
    """Mean over the windows that split L into ``output_size`` (PyTorch's rule).

    Example:
        >>> import polymod as pm
        >>> pm.nn.AdaptiveAvgPool1d(3)(pm.rand(2, 4, 7, backend="numpy")).shape
        (2, 4, 3)
    """

    def __init__(self, output_size: int):
        super().__init__()
        self.output_size = int(_tuple(output_size, 1, "output_size")[0])

    def forward(self, X: Any) -> Any:
        return ops.adaptive_avg_pool1d(X, self.output_size)

    def check_input(self, X: Any, *rest: Any) -> ShapeError | None:
        if len(tuple(X.shape)) != 3:
            return ShapeError(f"AdaptiveAvgPool1d expects 3-D input (N, C, L); received "
                              f"shape {tuple(X.shape)}.")
        return None

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
