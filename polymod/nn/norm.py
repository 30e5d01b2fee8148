"""Normalisation and dropout layers, with PyTorch's conventions and ``state_dict`` keys.

``BatchNorm1d/2d`` have PyTorch's arithmetic on every backend (the frameworks' own
batch-norm ops differ: MXNet's momentum is the weight of the *old* value). They run an
adapter's fused kernel (``FUSED["batch_norm"]``, ``F.batch_norm`` on PyTorch) where it
has one with these numbers, and are built from ``polymod.ops`` elsewhere:

* training: normalise with the batch mean and the biased batch variance; update
  ``running_mean``/``running_var`` with ``(1 - momentum) * running + momentum * batch``
  using the *unbiased* batch variance; ``num_batches_tracked += 1``
  (``momentum=None``: cumulative average, factor ``1 / num_batches_tracked``);
* evaluation: normalise with the running statistics (with
  ``track_running_stats=False``: with the batch statistics, as PyTorch).

Dropout masks come from polymod's seeded generator, so a seeded training step is the
same on every backend; see ``Dropout`` for graph modes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import init as _init
from .. import ops
from ..errors import ShapeError
from ..handles import Buffer, Parameter
from ..module import Module
from ..module.lazy import check_shapes

_PER_CHANNEL = ("weight", "bias", "running_mean", "running_var")


def same_dtype(X: Any, weight: Any) -> None:
    """Input of another float dtype fails here, as in a Linear: built from elementwise ops,
    a norm would otherwise follow each framework's promotion (torch and MXNet compute
    float64 or bfloat16 input, TensorFlow refuses)."""
    if X.dtype != weight.dtype:
        raise TypeError(f"input of dtype {X.dtype}, weights of dtype {weight.dtype}")


class _BatchNorm(Module):
    dims: tuple[int, ...] = (2, 3)

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, num_features: int | None, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        if num_features is not None and (not isinstance(num_features, int) or num_features <= 0):
            raise ValueError(f"num_features must be a positive int or None; received "
                             f"{num_features!r}.")
        self.num_features = num_features
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.weight = Parameter() if affine else None
        self.bias = Parameter() if affine else None
        if track_running_stats:
            self.running_mean = Buffer()
            self.running_var = Buffer()
            self.num_batches_tracked = Buffer(np.array(0, np.int64), dtype=np.int64)
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        if num_features is not None:
            self.build()

    def build(self, X: Any = None) -> None:
        params = self._params
        if self.num_features is None:  # from loaded values, else from the first input
            loaded = [h.shape[0] for n, h in params.items() if n in _PER_CHANNEL and h.materialized]
            self.num_features = loaded[0] if loaded else int(X.shape[1])
        c = (self.num_features,)
        if self.affine:
            params["weight"].materialize(c, default=_init.Ones())
            params["bias"].materialize(c, default=_init.Zeros())
        if self.track_running_stats:
            params["running_mean"].materialize(c, default=_init.Zeros())
            params["running_var"].materialize(c, default=_init.Ones())
        self.__dict__["_built"] = True

    def check_lazy_shapes(self, shapes: dict[str, tuple]) -> str | None:
        c = "num_features" if self.num_features is None else self.num_features
        return check_shapes(self, shapes, {name: (c,) for name in _PER_CHANNEL})

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"no_grad": adapter.no_grad, "fused": adapter.FUSED.get("batch_norm")}

    def _check_rank(self, X: Any) -> None:
        rank = len(X.shape)
        if rank not in self.ranks:
            raise ShapeError(f"{type(self).__name__} expects {' or '.join(map(str, self.ranks))}"
                             f"-D input (N, C, ...); received shape {tuple(X.shape)}.")

    def forward(self, X: Any) -> Any:
        rank = len(X.shape)
        if rank not in self.ranks:
            self._check_rank(X)
        reference = self.weight if self.affine else self.running_mean
        if reference is not None:
            same_dtype(X, reference)
        axes = (0,) + tuple(range(2, rank))
        fused = self._bound.fused
        if fused is not None:
            return self._fused(fused, X, axes)
        return self._composed(X, axes)

    def _composed(self, X: Any, axes: tuple) -> Any:
        shape = (1, self.num_features) + (1,) * (len(axes) - 1)
        if self.training or not self.track_running_stats:
            mean = ops.mean(X, axis=axes, keepdims=True)
            centred = X - mean
            var = ops.mean(centred * centred, axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                self._update(X, mean, var, axes)
            out = centred / ops.sqrt(var + self.eps)
        else:
            out = (X - ops.reshape(self.running_mean, shape)) / ops.sqrt(
                ops.reshape(self.running_var, shape) + self.eps)
        if self.affine:
            out = out * ops.reshape(self.weight, shape) + ops.reshape(self.bias, shape)
        return out

    def _fused(self, fused: Any, X: Any, axes: tuple) -> Any:
        """The framework's fused kernel (``FUSED["batch_norm"]``).

        It returns ``(out, stats)``: ``stats`` None when it wrote the running statistics
        in place (or had none to write), else ``(new_mean, new_var)`` for the handles
        (``(1 - factor) * running + factor * batch``, unbiased variance); or None when it
        cannot take this input (then the composed form runs)."""
        if not self.track_running_stats:
            result = fused(X, None, None, self.weight, self.bias, True, 0.0, self.eps)
        elif not self.training:
            result = fused(X, self.running_mean, self.running_var, self.weight, self.bias,
                           False, 0.0, self.eps)
        elif self.momentum is None:  # the factor depends on a tensor: composed, no sync
            return self._composed(X, axes)
        else:
            self._check_batch(X, axes)
            result = fused(X, self.running_mean, self.running_var, self.weight, self.bias,
                           True, self.momentum, self.eps)
            if result is not None:
                handles = self._params
                with self._bound.no_grad():
                    handles["num_batches_tracked"].assign(self.num_batches_tracked + 1)
                    if result[1] is not None:
                        handles["running_mean"].assign(result[1][0])
                        handles["running_var"].assign(result[1][1])
        if result is None:
            return self._composed(X, axes)
        return result[0]

    def _check_batch(self, X: Any, axes: tuple) -> int | None:
        """The number of values per channel (None when traced); fails for 1 or fewer."""
        sizes = [X.shape[a] for a in axes]
        if not all(isinstance(s, int) for s in sizes):
            return None
        n = math.prod(sizes)
        if n <= 1:
            raise ShapeError(f"{type(self).__name__} in training mode expects more than "
                             f"1 value per channel; received input of shape "
                             f"{tuple(X.shape)}.")
        return n

    def _update(self, X: Any, mean: Any, var: Any, axes: tuple) -> None:
        with self._bound.no_grad():
            n = self._check_batch(X, axes)
            if n is not None:
                unbiased = var * (n / (n - 1))
            else:  # symbolic batch size (a traced graph)
                n = ops.sum(ops.ones_like(X), axis=axes, keepdims=True)
                unbiased = var * n / (n - 1)
            handles = self._params  # writes go through the handles (JAX arrays are immutable)
            handles["num_batches_tracked"].assign(self.num_batches_tracked + 1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / ops.astype(self.num_batches_tracked, "float32")
            else:
                factor = self.momentum
            c = (self.num_features,)
            running_mean, running_var = self.running_mean, self.running_var
            handles["running_mean"].assign((1.0 - factor) * running_mean
                                           + factor * ops.reshape(mean, c))
            handles["running_var"].assign((1.0 - factor) * running_var
                                          + factor * ops.reshape(unbiased, c))

    def check_input(self, X: Any, *rest: Any) -> ShapeError | None:
        shape = tuple(X.shape)
        if len(shape) not in self.ranks:
            return ShapeError(f"{type(self).__name__} expects "
                              f"{' or '.join(map(str, self.ranks))}-D input (N, C, ...); "
                              f"received shape {shape}.")
        if self.num_features is not None and shape[1] != self.num_features:
            return ShapeError(f"{type(self).__name__} expects {self.num_features} channels "
                              f"(dimension 1); received shape {shape}.")
        return None

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input, as ``torch.nn.BatchNorm1d``.

    Example:
        >>> import polymod as pm
        >>> bn = pm.nn.BatchNorm1d(3)
        >>> list(bn.state_dict())
        ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
        >>> bn(pm.rand(4, 3, backend="numpy")).shape
        (4, 3)
    """

    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, as ``torch.nn.BatchNorm2d``.

    Example:
        >>> import polymod as pm
        >>> bn = pm.nn.BatchNorm2d(3)
        >>> _ = bn(pm.rand(4, 3, 5, 5, backend="numpy"))
        >>> int(bn.num_batches_tracked)
        1
    """

    ranks = (4,)


def LazyBatchNorm1d(eps: float = 1e-5, momentum: float | None = 0.1,  # noqa: N802
                    affine: bool = True, track_running_stats: bool = True,
                    dtype: Any = None) -> BatchNorm1d:
    """A ``BatchNorm1d`` whose ``num_features`` come from the first input."""
    return BatchNorm1d(None, eps, momentum, affine, track_running_stats, dtype=dtype)


def LazyBatchNorm2d(eps: float = 1e-5, momentum: float | None = 0.1,  # noqa: N802
                    affine: bool = True, track_running_stats: bool = True,
                    dtype: Any = None) -> BatchNorm2d:
    """A ``BatchNorm2d`` whose ``num_features`` come from the first input."""
    return BatchNorm2d(None, eps, momentum, affine, track_running_stats, dtype=dtype)


class LayerNorm(Module):
    """Normalises over the last ``len(normalized_shape)`` dimensions (biased variance),
    as ``torch.nn.LayerNorm``.

    Example:
        >>> import polymod as pm
        >>> ln = pm.nn.LayerNorm(4)
        >>> [name for name, _ in ln.named_parameters()]
        ['weight', 'bias']
        >>> ln(pm.rand(2, 4, backend="numpy")).shape
        (2, 4)
    """

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, normalized_shape: Any, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if elementwise_affine:
            self.weight = Parameter(shape=self.normalized_shape, init="ones")
            self.bias = Parameter(shape=self.normalized_shape, init="zeros") if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, X: Any) -> Any:
        if self.weight is not None:
            same_dtype(X, self.weight)
        return ops.layer_norm(X, self.normalized_shape, self.weight, self.bias, self.eps)

    def check_input(self, X: Any, *rest: Any) -> ShapeError | None:
        shape = tuple(X.shape)
        k = len(self.normalized_shape)
        if shape[len(shape) - k:] != self.normalized_shape:
            return ShapeError(f"LayerNorm expects input ending in {self.normalized_shape}; "
                              f"received shape {shape}.")
        return None

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
