"""MXNet Gluon adapter: the only place polymod imports mxnet.

Tensors are ``mx.np.ndarray`` (NumPy mode is switched on). Parameters are
``gluon.Parameter`` objects whose data arrays are what ``forward`` reads, so a
``gluon.Trainer`` over ``pm.native(net).collect_params()`` updates the same storage.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

# mxnet 1.9.1 still uses NumPy aliases removed in NumPy 1.24. Look in __dict__:
# hasattr(np, "str") itself warns on NumPy 1.26.
for _alias, _builtin in {"bool": bool, "int": int, "float": float, "complex": complex,
                         "object": object, "str": str}.items():
    if _alias not in np.__dict__:
        setattr(np, _alias, _builtin)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import mxnet as mx
    from mxnet import autograd, gluon, npx
    from mxnet import np as mnp

npx.set_np()

NAME = "gluon"
TENSOR_TYPES = (mnp.ndarray,)


def version() -> str:
    return mx.__version__


# -- in-place operators while recording ------------------------------------------------------
# MXNet's autograd refuses in-place writes to arrays in the recorded graph
# ("X /= 2" in the chapter's FixedHiddenMLP). While recording, fall back to the
# out-of-place operator: Python rebinds the name, as it does for TF tensors.
def _recording_safe(inplace: Any, outplace: Any) -> Any:
    def method(self: Any, other: Any) -> Any:
        if autograd.is_recording():
            return outplace(self, other)
        return inplace(self, other)

    method.__name__ = inplace.__name__
    method.__doc__ = inplace.__doc__
    return method


for _op in ("add", "sub", "mul", "truediv", "mod", "pow"):
    _inplace = getattr(mnp.ndarray, f"__i{_op}__", None)
    if _inplace is not None and not getattr(_inplace, "_polymod", False):
        _patched = _recording_safe(_inplace, getattr(mnp.ndarray, f"__{_op}__"))
        _patched._polymod = True
        setattr(mnp.ndarray, f"__i{_op}__", _patched)


# -- tensors -------------------------------------------------------------------------------
def _context(device: Any) -> Any:
    return device if device is not None else mx.cpu()


def from_numpy(array: np.ndarray, device: Any = None) -> Any:
    return mnp.array(array, dtype=array.dtype, ctx=_context(device))


def to_numpy(x: Any) -> np.ndarray:
    return np.array(x.asnumpy())


def dtype_of(x: Any) -> np.dtype:
    return np.dtype(x.dtype)


def shape(x: Any) -> tuple:
    return tuple(x.shape)


def device_of(x: Any) -> Any:
    return None if x.ctx.device_type == "cpu" else x.ctx


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    param = gluon.Parameter(name, shape=array.shape, dtype=array.dtype,
                            grad_req="write" if trainable else "null")
    param._init_impl(from_numpy(array, device), [_context(device)])
    return param, param.data()


def create_constant(array: np.ndarray, device: Any) -> Any:
    return from_numpy(array, device)


def assign(target: Any, value: Any) -> None:
    """Writes ``value`` (NumPy data or a tensor of this backend) into ``target`` in place."""
    if isinstance(value, np.ndarray):
        value = mnp.array(value, dtype=target.dtype, ctx=target.ctx)
    with autograd.pause():
        target[...] = value


def set_trainable(native: Any, flag: bool) -> None:
    native.grad_req = "write" if flag else "null"


# -- autograd --------------------------------------------------------------------------------
def no_grad() -> Any:
    return autograd.pause()


def value_and_grad(fn: Any, tensors: list) -> tuple:
    with autograd.record():
        value = fn()
    value.backward()
    return value, [t.grad.copy() if t.grad is not None else mnp.zeros_like(t) for t in tensors]


# -- ops ------------------------------------------------------------------------------------
def linear(x: Any, weight: Any, bias: Any) -> Any:
    if x.shape[0] == 0:  # MXNet fails asynchronously on an empty batch
        return mnp.zeros(x.shape[:-1] + (weight.shape[0],), dtype=x.dtype, ctx=x.ctx)
    return npx.fully_connected(x, weight, bias, no_bias=bias is None,
                               num_hidden=weight.shape[0], flatten=False)


relu = npx.relu  # not npx.activation: its fused relu turns NaN into 0
sigmoid = npx.sigmoid
tanh = mnp.tanh
matmul = mnp.matmul
add = mnp.add
subtract = mnp.subtract
multiply = mnp.multiply
divide = mnp.divide
maximum = mnp.maximum
minimum = mnp.minimum
abs = mnp.abs
exp = mnp.exp
log = mnp.log
sqrt = mnp.sqrt
where = mnp.where
zeros_like = mnp.zeros_like
ones_like = mnp.ones_like


def gelu(x: Any) -> Any:
    return npx.leaky_relu(x, act_type="gelu")


def softmax(x: Any, axis: int = -1) -> Any:
    return npx.softmax(x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return npx.log_softmax(x, axis=axis)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return mnp.sum(x, axis=_axes(axis), keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return mnp.mean(x, axis=_axes(axis), keepdims=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return mnp.max(x, axis=_axes(axis), keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return mnp.min(x, axis=_axes(axis), keepdims=keepdims)


def _axes(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


def reshape(x: Any, shape: tuple) -> Any:
    return mnp.reshape(x, shape)


def permute_dims(x: Any, axes: Any = None) -> Any:
    return mnp.transpose(x, axes)


def concat(xs: list, axis: int = 0) -> Any:
    return mnp.concatenate(list(xs), axis=axis)


def stack(xs: list, axis: int = 0) -> Any:
    return mnp.stack(list(xs), axis=axis)


def astype(x: Any, dtype: Any) -> Any:
    return x.astype(np.dtype(dtype).name)


def flatten(x: Any, start_dim: int) -> Any:
    return x.reshape(x.shape[:start_dim] + (int(np.prod(x.shape[start_dim:])),))


# -- native twin ----------------------------------------------------------------------------
class PolymodBlock(gluon.Block):
    """A Gluon ``Block`` over a polymod model's own parameters.

    ``collect_params()`` (neutral names) and ``gluon.Trainer`` work; the training
    flag of ``autograd.record(train_mode=...)`` governs the polymod model while it
    runs. ``hybridize()`` raises: MXNet 1.9 compiles only ``hybrid_forward(F, ...)``
    code, and polymod modules are written with native operators.
    """

    def __init__(self, module: Any):
        super().__init__(prefix="")
        self.polymod_module = module
        for name, handle in module._named_handles(("parameter",)):
            self._params._params[name] = handle.native

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        module = self.polymod_module
        training = autograd.is_training()
        if training is not module.training:
            module.train(training)
        return module(*args, **kwargs)

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        if not active:
            return
        from polymod.errors import StateError

        raise StateError(
            "Cannot hybridize a polymod model: MXNet 1.9 compiles only "
            "hybrid_forward(F, ...) code, and polymod modules run native operators "
            "eagerly. Train it as it is (imperative Gluon), or compare graph modes on the "
            "'torch' (torch.compile) or 'keras' (tf.function) backends.")


def native_twin(module: Any) -> PolymodBlock:
    return PolymodBlock(module)


def export_weights(source: Any) -> list[np.ndarray]:
    """A Gluon block's parameters in creation order (Gluon's layout is already (out, in))."""
    return [to_numpy(p.data()) for p in source.collect_params().values()]


def cross_entropy(logits: Any, target: Any) -> Any:
    return -mnp.mean(npx.pick(npx.log_softmax(logits, axis=-1), target, axis=-1))
