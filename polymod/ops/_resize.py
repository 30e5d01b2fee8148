"""``interpolate``: nearest and (bi)linear resizing, PyTorch's index arithmetic.

Written once from ``take`` (a gather along each resized axis) and elementwise products,
with the source indices and weights computed in NumPy in float32, as PyTorch's CPU
kernels compute them; so every backend reads the same elements with the same weights,
a NaN spreads to the same outputs, and gradients add up where PyTorch's do.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._dispatch import of

_MODES = {"nearest": (1, 2), "nearest-exact": (1, 2), "linear": (1,), "bilinear": (2,)}


def _sizes(in_sizes: tuple, size: Any, scale_factor: Any) -> tuple[tuple, tuple]:
    """Output sizes, and the scale factor given per axis (None where the size was given)."""
    n = len(in_sizes)
    if (size is None) == (scale_factor is None):
        raise ValueError("ops.interpolate needs exactly one of size and scale_factor.")
    if size is not None:
        out = (int(size),) * n if isinstance(size, (int, np.integer)) else tuple(map(int, size))
        factors: tuple = (None,) * n
    else:
        factors = ((float(scale_factor),) * n if isinstance(scale_factor, (int, float))
                   else tuple(float(f) for f in scale_factor))
        out = tuple(int(math.floor(i * f)) for i, f in zip(in_sizes, factors, strict=False))
    if len(out) != n or len(factors) != n or any(o <= 0 for o in out):
        raise ValueError(f"ops.interpolate: size/scale_factor must give {n} positive output "
                         f"sizes for spatial sizes {in_sizes}; received size={size!r}, "
                         f"scale_factor={scale_factor!r}.")
    return out, factors


def _scale(n_in: int, n_out: int, factor: float | None, align_corners: bool) -> np.float32:
    if align_corners:
        return np.float32((n_in - 1) / (n_out - 1)) if n_out > 1 else np.float32(0)
    return np.float32(1.0 / factor) if factor is not None else np.float32(n_in) / np.float32(n_out)


def _nearest(n_in: int, n_out: int, factor: float | None, exact: bool) -> np.ndarray:
    scale = _scale(n_in, n_out, factor, False)
    dst = np.arange(n_out, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return np.minimum(np.floor(dst * scale).astype(np.int64), n_in - 1)


def _linear(n_in: int, n_out: int, factor: float | None, align_corners: bool) -> tuple:
    """Both neighbours' indices and weights per output position (PyTorch's rule)."""
    scale = _scale(n_in, n_out, factor, align_corners)
    dst = np.arange(n_out, dtype=np.float32)
    src = scale * dst if align_corners else scale * (dst + np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0))
    lo = src.astype(np.int64)
    hi = lo + (lo < n_in - 1)
    w_hi = (src - lo.astype(np.float32)).astype(np.float32)
    return lo, hi, np.float32(1) - w_hi, w_hi


def interpolate(x: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None) -> Any:
    """Resizes the spatial axes of (N, C, L) or (N, C, H, W) input, as ``F.interpolate``.

    ``mode``: ``'nearest'``, ``'nearest-exact'``, ``'linear'`` (3-D input) or
    ``'bilinear'`` (4-D input); ``align_corners`` (linear modes only) as PyTorch.
    Give ``size`` or ``scale_factor`` (an output size is ``floor(n * scale_factor)``,
    and the given factor is used for the source positions, as PyTorch's default
    ``recompute_scale_factor=None``).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> x = pm.asarray([[[1.0, 2.0]]], backend="numpy")
        >>> ops.interpolate(x, scale_factor=2).tolist()
        [[[1.0, 1.0, 2.0, 2.0]]]
        >>> ops.interpolate(x, size=4, mode="linear").tolist()
        [[[1.0, 1.25, 1.75, 2.0]]]
    """
    adapter = of(x)
    shape = tuple(adapter.shape(x))
    nd = len(shape) - 2
    if mode not in _MODES:
        raise ValueError(f"ops.interpolate: mode must be one of {sorted(_MODES)}; received "
                         f"{mode!r}.")
    if nd not in _MODES[mode]:
        raise ValueError(f"ops.interpolate: mode {mode!r} expects "
                         f"{' or '.join(str(d + 2) for d in _MODES[mode])}-D input; received "
                         f"shape {shape}.")
    linear = mode in ("linear", "bilinear")
    if align_corners is not None and not linear:
        raise ValueError("ops.interpolate: align_corners only applies to the linear modes.")
    out_sizes, factors = _sizes(shape[2:], size, scale_factor)
    fused = adapter.FUSED.get("interpolate")
    if fused is not None:
        return fused(x, None if size is None else out_sizes,
                     None if size is not None else factors, mode, align_corners)
    device = adapter.device_of(x)
    dtype = adapter.dtype_of(x)
    axes = zip(range(2, 2 + nd), shape[2:], out_sizes, factors, strict=True)
    for axis, n_in, n_out, factor in reversed(list(axes)):  # the last axis first, as torch
        if not linear:
            if n_in != n_out:
                index = _nearest(n_in, n_out, factor, mode == "nearest-exact")
                x = adapter.take(x, adapter.from_numpy(index, device), axis)
            continue
        lo, hi, w_lo, w_hi = _linear(n_in, n_out, factor, bool(align_corners))
        weight_shape = (n_out,) + (1,) * (len(shape) - 1 - axis)
        w_lo = adapter.from_numpy(w_lo.reshape(weight_shape).astype(dtype), device)
        w_hi = adapter.from_numpy(w_hi.reshape(weight_shape).astype(dtype), device)
        x = (adapter.take(x, adapter.from_numpy(lo, device), axis) * w_lo
             + adapter.take(x, adapter.from_numpy(hi, device), axis) * w_hi)
    return x
