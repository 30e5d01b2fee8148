"""``Upsample`` (and PyTorch's two fixed-mode forms), over ``ops.interpolate``."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..module import Module


class Upsample(Module):
    """Resizes (N, C, L) or (N, C, H, W) input, as ``torch.nn.Upsample``.

    Args:
        size: the output's spatial size (an int or one per spatial axis), or
        scale_factor: a multiplier (a number or one per axis; sizes are floored).
        mode: ``'nearest'``, ``'nearest-exact'``, ``'linear'`` (3-D) or ``'bilinear'``
            (4-D).
        align_corners: for the linear modes, as PyTorch (default False).

    PyTorch's index arithmetic is followed exactly (float32 source positions), so every
    backend reads the same input elements with the same weights as ``F.interpolate``.

    Example:
        >>> import polymod as pm
        >>> up = pm.nn.Upsample(scale_factor=2, mode="bilinear")
        >>> up(pm.rand(1, 3, 4, 5, backend="numpy")).shape
        (1, 3, 8, 10)
    """

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        if recompute_scale_factor:
            raise ValueError("Upsample: recompute_scale_factor=True is not supported by "
                             "polymod; give the output size instead.")
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample needs exactly one of size and scale_factor.")
        self.size = size
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, X: Any) -> Any:
        return ops.interpolate(X, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else \
            f"scale_factor={self.scale_factor}"
        corners = "" if self.align_corners is None else f", align_corners={self.align_corners}"
        return f"{what}, mode={self.mode!r}{corners}"


def UpsamplingNearest2d(size: Any = None, scale_factor: Any = None) -> Upsample:  # noqa: N802
    """``Upsample(mode='nearest')`` (PyTorch's ``nn.UpsamplingNearest2d``)."""
    return Upsample(size, scale_factor, mode="nearest")


def UpsamplingBilinear2d(size: Any = None, scale_factor: Any = None) -> Upsample:  # noqa: N802
    """``Upsample(mode='bilinear', align_corners=True)`` (PyTorch's
    ``nn.UpsamplingBilinear2d``)."""
    return Upsample(size, scale_factor, mode="bilinear", align_corners=True)
