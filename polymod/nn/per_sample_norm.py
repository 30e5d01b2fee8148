"""Normalisation with per-sample statistics: ``GroupNorm`` and ``InstanceNorm1d/2d``,
PyTorch's arguments, arithmetic and ``state_dict`` keys, written over ``polymod.ops``.

``InstanceNorm`` with ``track_running_stats=True`` updates its running statistics as
PyTorch does: the batch average of each sample's mean and *unbiased* variance, mixed in
with ``momentum`` (``momentum=None`` leaves them unchanged, and ``num_batches_tracked``
stays 0, as in PyTorch). The update goes through the buffer handles, so it runs eagerly
(not inside ``tf.function``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from ..autograd import no_grad
from ..errors import ShapeError
from ..handles import Buffer, Parameter
from ..module import Module


def _check_channels(layer: Module, X: Any, ranks: tuple, channels: int) -> ShapeError | None:
    shape = tuple(X.shape)
    name = type(layer).__name__
    if len(shape) not in ranks:
        return ShapeError(f"{name} expects {' or '.join(map(str, ranks))}-D input; received "
                          f"shape {shape}.")
    axis = 0 if len(shape) == min(ranks) and len(ranks) > 1 else 1
    if shape[axis] != channels:
        return ShapeError(f"{name} expects {channels} channels (dimension {axis}); received "
                          f"shape {shape}.")
    return None


class GroupNorm(Module):
    """Normalises (N, C, *) input over groups of channels, as ``torch.nn.GroupNorm``.

    Example:
        >>> import polymod as pm
        >>> gn = pm.nn.GroupNorm(2, 4)
        >>> list(gn.state_dict())
        ['weight', 'bias']
        >>> gn(pm.rand(3, 4, 5, backend="numpy")).shape
        (3, 4, 5)
    """

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups}).")
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = float(eps), bool(affine)
        self.weight = Parameter(shape=(num_channels,), init="ones") if affine else None
        self.bias = Parameter(shape=(num_channels,), init="zeros") if affine else None

    def forward(self, X: Any) -> Any:
        return ops.group_norm(X, self.num_groups, self.weight, self.bias, self.eps)

    def check_input(self, X: Any, *rest: Any) -> ShapeError | None:
        if len(tuple(X.shape)) < 2:
            return ShapeError(f"GroupNorm expects (N, C, ...) input; received shape "
                              f"{tuple(X.shape)}.")
        return _check_channels(self, X, (len(tuple(X.shape)),), self.num_channels)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class _InstanceNorm(Module):
    nd = 2

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False):
        super().__init__()
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        c = (self.num_features,)
        self.weight = Parameter(shape=c, init="ones") if affine else None
        self.bias = Parameter(shape=c, init="zeros") if affine else None
        if track_running_stats:
            self.running_mean = Buffer(shape=c, init="zeros")
            self.running_var = Buffer(shape=c, init="ones")
            self.num_batches_tracked = Buffer(np.array(0, np.int64), dtype=np.int64)
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, X: Any) -> Any:
        unbatched = len(X.shape) == self.nd + 1  # (C, *spatial), as PyTorch accepts
        if unbatched:
            X = ops.expand_dims(X, 0)
        use_input_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats and self.momentum:
            self._update(X)
        out = ops.instance_norm(X, self.running_mean, self.running_var, self.weight,
                                self.bias, use_input_stats, eps=self.eps)
        return ops.squeeze(out, 0) if unbatched else out

    def _update(self, X: Any) -> None:
        axes = tuple(range(2, len(X.shape)))
        m = self.momentum
        with no_grad():
            mean = ops.mean(ops.mean(X, axis=axes), axis=0)
            var = ops.mean(ops.var(X, axis=axes, correction=1), axis=0)
            buffers = dict(self.named_buffers())
            buffers["running_mean"].assign((1.0 - m) * self.running_mean + m * mean)
            buffers["running_var"].assign((1.0 - m) * self.running_var + m * var)

    def check_input(self, X: Any, *rest: Any) -> ShapeError | None:
        problem = _check_channels(self, X, (self.nd + 1, self.nd + 2), self.num_features)
        if problem is None and self.training and math.prod(tuple(X.shape)[-self.nd:]) <= 1:
            return ShapeError(f"{type(self).__name__} in training mode expects more than 1 "
                              f"spatial element; received shape {tuple(X.shape)}.")
        return problem

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Normalises each sample's channels of (N, C, L) (or (C, L)) input over L, as
    ``torch.nn.InstanceNorm1d`` (``affine`` and ``track_running_stats`` off by default).

    Example:
        >>> import polymod as pm
        >>> pm.nn.InstanceNorm1d(3)(pm.rand(2, 3, 6, backend="numpy")).shape
        (2, 3, 6)
    """

    nd = 1


class InstanceNorm2d(_InstanceNorm):
    """Normalises each sample's channels of (N, C, H, W) (or (C, H, W)) input over (H, W),
    as ``torch.nn.InstanceNorm2d``.

    Example:
        >>> import polymod as pm
        >>> norm = pm.nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
        >>> list(norm.state_dict())
        ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """

    nd = 2
