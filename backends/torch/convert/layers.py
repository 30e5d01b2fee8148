"""torch.nn leaf layers -> ``polymod.nn`` layers of the same kind, with their arguments.

Each entry reads a torch layer's hyper-parameters and returns ``(polymod class name,
args, kwargs)``. A layer converts when polymod has that class (layers still being
added to polymod light up here as soon as they exist) and its settings are ones the
polymod layer computes; otherwise ``unsupported`` says why.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn as tnn

from polymod import nn as pnn


class NotConvertible(Exception):
    """This layer (or these settings of it) has no polymod counterpart yet."""


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise NotConvertible(reason)


def _conv(m: Any) -> tuple:
    _require(m.padding_mode == "zeros", f"padding_mode={m.padding_mode!r} (only 'zeros')")
    return (m.in_channels, m.out_channels), dict(
        kernel_size=tuple(m.kernel_size), stride=tuple(m.stride),
        padding=m.padding if isinstance(m.padding, str) else tuple(m.padding),
        dilation=tuple(m.dilation), groups=m.groups, bias=m.bias is not None)


def _conv_transpose(m: Any) -> tuple:
    _require(m.padding_mode == "zeros", f"padding_mode={m.padding_mode!r} (only 'zeros')")
    return (m.in_channels, m.out_channels), dict(
        kernel_size=tuple(m.kernel_size), stride=tuple(m.stride), padding=tuple(m.padding),
        output_padding=tuple(m.output_padding), groups=m.groups, bias=m.bias is not None,
        dilation=tuple(m.dilation))


def _batch_norm(m: Any) -> tuple:
    return (m.num_features,), dict(eps=m.eps, momentum=m.momentum, affine=m.affine,
                                   track_running_stats=m.track_running_stats)


def _layer_norm(m: Any) -> tuple:
    return (tuple(m.normalized_shape),), dict(eps=m.eps,
                                              elementwise_affine=m.elementwise_affine,
                                              bias=getattr(m, "bias", None) is not None)


def _embedding(m: Any) -> tuple:
    _require(m.max_norm is None, "max_norm (renormalises rows in place)")
    return (m.num_embeddings, m.embedding_dim), dict(padding_idx=m.padding_idx)


def _pool(m: Any, nd: int) -> tuple:
    _require(not getattr(m, "ceil_mode", False), "ceil_mode=True")
    _require(not getattr(m, "return_indices", False), "return_indices=True")
    dilation = getattr(m, "dilation", 1)
    _require(dilation in (1, (1,) * nd), f"dilation={dilation}")
    _require(getattr(m, "count_include_pad", True), "count_include_pad=False")
    _require(getattr(m, "divisor_override", None) is None, "divisor_override")
    return (m.kernel_size,), dict(stride=m.stride, padding=m.padding)


def _gelu(m: Any) -> tuple:
    if m.approximate == "none":
        return (), {}
    _require("approximate" in inspect.signature(pnn.GELU).parameters,
             f"approximate={m.approximate!r} (polymod's GELU has no approximate= yet)")
    return (), dict(approximate=m.approximate)


def _flatten(m: Any) -> tuple:
    _require(m.end_dim == -1, f"end_dim={m.end_dim} (only -1)")
    return (m.start_dim,), {}


def _upsample(m: Any) -> tuple:
    return (), dict(size=m.size, scale_factor=m.scale_factor, mode=m.mode,
                    align_corners=m.align_corners)


def _none(m: Any) -> tuple:
    return (), {}


#: torch.nn class -> (polymod.nn class name, reader of its arguments)
LAYERS: dict[type, tuple[str, Callable[[Any], tuple]]] = {
    tnn.Linear: ("Linear", lambda m: ((m.in_features, m.out_features),
                                      dict(bias=m.bias is not None))),
    tnn.Conv1d: ("Conv1d", _conv),
    tnn.Conv2d: ("Conv2d", _conv),
    tnn.ConvTranspose1d: ("ConvTranspose1d", _conv_transpose),
    tnn.ConvTranspose2d: ("ConvTranspose2d", _conv_transpose),
    tnn.BatchNorm1d: ("BatchNorm1d", _batch_norm),
    tnn.BatchNorm2d: ("BatchNorm2d", _batch_norm),
    tnn.InstanceNorm1d: ("InstanceNorm1d", _batch_norm),
    tnn.InstanceNorm2d: ("InstanceNorm2d", _batch_norm),
    tnn.GroupNorm: ("GroupNorm", lambda m: ((m.num_groups, m.num_channels),
                                            dict(eps=m.eps, affine=m.affine))),
    tnn.LayerNorm: ("LayerNorm", _layer_norm),
    tnn.Embedding: ("Embedding", _embedding),
    tnn.Dropout: ("Dropout", lambda m: ((m.p,), {})),
    tnn.ReLU: ("ReLU", _none),
    tnn.ReLU6: ("ReLU6", _none),
    tnn.Sigmoid: ("Sigmoid", _none),
    tnn.Tanh: ("Tanh", _none),
    tnn.SiLU: ("SiLU", _none),
    tnn.Hardswish: ("Hardswish", _none),
    tnn.Hardsigmoid: ("Hardsigmoid", _none),
    tnn.Identity: ("Identity", _none),
    tnn.GELU: ("GELU", _gelu),
    tnn.LeakyReLU: ("LeakyReLU", lambda m: ((m.negative_slope,), {})),
    tnn.ELU: ("ELU", lambda m: ((), dict(alpha=m.alpha))),
    tnn.Softplus: ("Softplus", lambda m: ((), dict(beta=m.beta, threshold=m.threshold))),
    tnn.Softmax: ("Softmax", lambda m: ((-1 if m.dim is None else m.dim,), {})),
    tnn.LogSoftmax: ("LogSoftmax", lambda m: ((-1 if m.dim is None else m.dim,), {})),
    tnn.Flatten: ("Flatten", _flatten),
    tnn.MaxPool1d: ("MaxPool1d", lambda m: _pool(m, 1)),
    tnn.MaxPool2d: ("MaxPool2d", lambda m: _pool(m, 2)),
    tnn.AvgPool1d: ("AvgPool1d", lambda m: _pool(m, 1)),
    tnn.AvgPool2d: ("AvgPool2d", lambda m: _pool(m, 2)),
    tnn.AdaptiveAvgPool1d: ("AdaptiveAvgPool1d", lambda m: ((m.output_size,), {})),
    tnn.AdaptiveAvgPool2d: ("AdaptiveAvgPool2d", lambda m: ((m.output_size,), {})),
    tnn.Upsample: ("Upsample", _upsample),
}


def weights(module: Any) -> dict[str, np.ndarray]:
    """The module's ``state_dict`` as NumPy copies."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def layer_spec(module: Any) -> tuple[str, tuple, dict]:
    """``(polymod class name, args, kwargs)`` for a torch leaf layer.

    Raises:
        NotConvertible: no polymod layer of that kind, or settings it does not compute.
    """
    entry = LAYERS.get(type(module))
    if entry is None:
        raise NotConvertible(f"no polymod layer for torch.nn.{type(module).__name__}")
    cls, read = entry
    if not hasattr(pnn, cls):
        raise NotConvertible(f"polymod.nn has no {cls} yet")
    args, kwargs = read(module)
    return cls, _plain(args), _plain(kwargs)


def _plain(value: Any) -> Any:
    """torch sizes and NumPy scalars as plain Python values (they go into source code)."""
    if isinstance(value, (tuple, list, torch.Size)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def is_layer(module: Any) -> bool:
    """Whether ``module`` is a torch.nn layer of a kind polymod maps (converted or not)."""
    return type(module) in LAYERS
