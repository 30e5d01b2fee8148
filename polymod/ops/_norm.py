"""Normalisation: ``layer_norm``, ``group_norm``, ``instance_norm`` (PyTorch's functional forms).

All three are the same arithmetic on every backend, written once here: the mean and
the biased variance over the normalised axes, ``(x - mean) / sqrt(var + eps)``, then
the optional elementwise ``weight`` and ``bias``. An adapter's fused kernel
(``FUSED``, e.g. ``F.layer_norm`` on PyTorch) runs instead where it has one.
"""

from __future__ import annotations

import math
from typing import Any

from ._dispatch import floating


def _normalize(adapter: Any, x: Any, axes: tuple, eps: float) -> Any:
    mean = adapter.mean(x, axes, True)
    centred = x - mean
    var = adapter.mean(centred * centred, axes, True)
    return centred / adapter.sqrt(var + eps)


def _affine(adapter: Any, out: Any, weight: Any, bias: Any, shape: tuple | None) -> Any:
    """``out * weight + bias``, each reshaped to ``shape`` first when given."""
    if weight is not None:
        out = out * (weight if shape is None else adapter.reshape(weight, shape))
    if bias is not None:
        out = out + (bias if shape is None else adapter.reshape(bias, shape))
    return out


def layer_norm(x: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Any:
    """Normalises over the last ``len(normalized_shape)`` axes (``F.layer_norm``).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> x = pm.asarray([[1.0, 2.0, 3.0]], backend="numpy")
        >>> [round(v, 4) for v in ops.layer_norm(x, (3,))[0].tolist()]
        [-1.2247, 0.0, 1.2247]
    """
    adapter = floating(x, "layer_norm")
    shape = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(
        int(n) for n in normalized_shape)
    fused = adapter.FUSED.get("layer_norm")
    out = None if fused is None else fused(x, shape, weight, bias, float(eps))
    if out is not None:  # None: the kernel does not take this input (an empty one)
        return out
    out = _normalize(adapter, x, tuple(range(-len(shape), 0)), float(eps))
    return _affine(adapter, out, weight, bias, None)


def _channel_shape(ndim: int, channels: int) -> tuple:
    return (1, channels) + (1,) * (ndim - 2)


def group_norm(x: Any, num_groups: int, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Any:
    """Normalises (N, C, *) input over groups of ``C / num_groups`` channels and all other
    axes but the batch (``F.group_norm``); ``weight``/``bias`` are per channel (C,).

    Example:
        >>> import polymod as pm
        >>> from polymod import ops
        >>> ops.group_norm(pm.rand(2, 4, 3, backend="numpy"), 2).shape
        (2, 4, 3)
    """
    adapter = floating(x, "group_norm")
    shape = tuple(adapter.shape(x))
    if len(shape) < 2 or shape[1] is None or shape[1] % num_groups:
        raise ValueError(f"ops.group_norm expects (N, C, ...) input with C divisible by "
                         f"num_groups={num_groups}; received shape {shape}.")
    fused = adapter.FUSED.get("group_norm")
    if fused is not None:
        return fused(x, num_groups, weight, bias, float(eps))
    rest = -1 if None in shape[1:] else shape[1] // num_groups * math.prod(shape[2:])
    batch = -1 if shape[0] is None else shape[0]
    grouped = adapter.reshape(x, (batch, num_groups, rest))
    out = adapter.reshape(_normalize(adapter, grouped, (2,), float(eps)),
                          (batch,) + tuple(-1 if n is None else n for n in shape[1:]))
    return _affine(adapter, out, weight, bias, _channel_shape(len(shape), shape[1]))


def instance_norm(x: Any, running_mean: Any = None, running_var: Any = None,
                  weight: Any = None, bias: Any = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Any:
    """Normalises each sample's channels of (N, C, *spatial) input over the spatial axes
    (``F.instance_norm``).

    With ``use_input_stats=False`` the given ``running_mean``/``running_var`` (C,) are
    used instead. Unlike ``F.instance_norm``, this function never writes into the
    running statistics (``momentum`` is accepted for PyTorch's signature and unused):
    ``nn.InstanceNorm1d/2d(track_running_stats=True)`` updates them.
    """
    adapter = floating(x, "instance_norm")
    ndim = len(adapter.shape(x))
    if ndim < 3:
        raise ValueError(f"ops.instance_norm expects (N, C, *spatial) input; received shape "
                         f"{tuple(adapter.shape(x))}.")
    shape = _channel_shape(ndim, adapter.shape(x)[1])
    spatial = adapter.shape(x)[2:]
    if use_input_stats and None not in spatial and math.prod(spatial) <= 1:
        raise ValueError(f"ops.instance_norm expects more than 1 spatial element when it uses "
                         f"the input's statistics (as PyTorch); received shape "
                         f"{tuple(adapter.shape(x))}.")
    if not use_input_stats and (running_mean is None or running_var is None):
        raise ValueError("ops.instance_norm with use_input_stats=False needs "
                         "running_mean and running_var.")
    fused = adapter.FUSED.get("instance_norm")
    if fused is not None:
        return fused(x, running_mean, running_var, weight, bias, bool(use_input_stats),
                     float(eps))
    if use_input_stats:
        out = _normalize(adapter, x, tuple(range(2, ndim)), float(eps))
    else:
        out = (x - adapter.reshape(running_mean, shape)) / adapter.sqrt(
            adapter.reshape(running_var, shape) + float(eps))
    return _affine(adapter, out, weight, bias, shape)
