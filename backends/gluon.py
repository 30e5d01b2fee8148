"""MXNet Gluon adapter: the only place polymod imports mxnet.

Tensors are ``mx.np.ndarray`` (NumPy mode is switched on). Parameters are
``gluon.Parameter`` objects whose data arrays are what ``forward`` reads, so a
``gluon.Trainer`` over ``pm.native(net).collect_params()`` updates the same storage.
"""

from __future__ import annotations

import ctypes
import warnings
import weakref
from typing import Any

import numpy as np

from polymod import memory as _memory
from polymod.backend import empty_batch_safe as _empty_batch_guard

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
    if x.size * np.dtype(x.dtype).itemsize < _memory.ADOPT_MIN_BYTES:
        return x.asnumpy()  # already a fresh copy
    # what asnumpy does, into aligned memory: the same one copy, and TensorFlow can then
    # adopt the array (.to("keras")) instead of copying it twice
    out = _memory.aligned_empty(x.shape, x.dtype)
    mx.base.check_call(mx.base._LIB.MXNDArraySyncCopyToCPU(
        x.handle, out.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(out.size)))
    return out


def dtype_of(x: Any) -> np.dtype:
    return np.dtype(x.dtype)


def shape(x: Any) -> tuple:
    return tuple(x.shape)


def device_of(x: Any) -> Any:
    return None if x.ctx.device_type == "cpu" else x.ctx


def _adopt(array: np.ndarray, device: Any) -> Any:
    """An ndarray over ``array``'s own memory (the core hands over arrays it owns)."""
    if device is not None or not array.flags.c_contiguous or array.dtype.kind not in "fiu":
        return from_numpy(array, device)
    return mx.nd.from_numpy(array, zero_copy=True).as_np_ndarray()


def create_parameter(array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple:
    param = gluon.Parameter(name, shape=array.shape, dtype=array.dtype,
                            grad_req="write" if trainable else "null")
    # Parameter._init_impl would copy the data once more (copyto): set it up directly.
    ctx = _context(device)
    param._ctx_list = [ctx]
    param._ctx_map = [[], []]
    param._ctx_map[ctx.device_typeid & 1] = [None] * ctx.device_id + [0]
    param._data = [_adopt(array, device)]
    param._init_grad()
    return param, param._data[0]


def create_constant(array: np.ndarray, device: Any) -> Any:
    return from_numpy(array, device)


def assign(target: Any, value: Any) -> None:
    """Writes ``value`` (NumPy data or a tensor of this backend) into ``target`` in place."""
    if isinstance(value, np.ndarray):
        if target.ctx.device_type == "cpu" and value.shape == target.shape:
            target._sync_copyfrom(value)  # what `nd[:] = numpy` runs: one copy, no engine op
            return
        value = mnp.array(value, dtype=target.dtype, ctx=target.ctx)
    with autograd.pause():
        target[() if target.ndim == 0 else ...] = value  # 0-d: MXNet takes only ()


def set_trainable(native: Any, flag: bool) -> None:
    native.grad_req = "write" if flag else "null"


def is_trainable(native: Any, stored: bool) -> bool:
    """The framework's own flag (a user may freeze with ``grad_req = 'null'``)."""
    return native.grad_req != "null"


# -- autograd --------------------------------------------------------------------------------
def no_grad() -> Any:
    return autograd.pause()


def _fresh_grads(value: Any, tensors: list) -> list:
    """``mx.autograd.grad(value, tensors)`` without its per-array wrappers (a legacy
    NDArray, then a shallow copy into an np.ndarray: ~3 us a parameter)."""
    grads = ctypes.POINTER(mx.base.NDArrayHandle)()
    stypes = ctypes.POINTER(ctypes.c_int)()
    mx.base.check_call(mx.base._LIB.MXAutogradBackwardEx(
        1, mx.base.c_handle_array([value]), ctypes.c_void_p(0),
        len(tensors), mx.base.c_handle_array(tensors),
        ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(1),  # retain, create graph; train
        ctypes.byref(grads), ctypes.byref(stypes)))
    return [mnp.ndarray(ctypes.cast(grads[i], mx.base.NDArrayHandle))
            for i in range(len(tensors))]


# MXNet's words for a value with no recorded graph behind it
_NO_GRAPH = ("computational graph", "computation graph")


def value_and_grad(fn: Any, tensors: list) -> tuple:
    with autograd.record():
        value = fn()
    if not tensors:  # nothing trainable: MXNet refuses backward() on an unrecorded value
        return value, []
    try:  # fresh gradient arrays, one engine op less per parameter than backward() + copies
        return value, _fresh_grads(value, tensors)
    except mx.base.MXNetError as err:  # a parameter the value does not use: see below
        if "unreachable" not in str(err) and not any(w in str(err) for w in _NO_GRAPH):
            raise
    # backward() writes only the gradients of parameters in the graph (the failed grad()
    # left it intact): clear the others' first, or they keep an earlier call's gradient
    stale = [t.grad.as_nd_ndarray() for t in tensors if t.grad is not None]
    if stale:
        mx.nd.reset_arrays(*stale, num_arrays=len(stale))  # one op for all
    try:
        value.backward()
    except mx.base.MXNetError as err:  # a value that depends on no parameter: zeros
        if not any(w in str(err) for w in _NO_GRAPH):
            raise
        return value, [mnp.zeros_like(t) for t in tensors]
    return value, [t.grad.copy() if t.grad is not None else mnp.zeros_like(t) for t in tensors]


# -- ops ------------------------------------------------------------------------------------
_out_features: dict[int, int] = {}  # id(weight) -> rows, dropped when the weight dies


def _rows(weight: Any) -> int:
    # Each .shape is a call into MXNet (~0.8 us, a tenth of a small layer's overhead):
    # a weight's shape never changes, so read it once.
    rows = _out_features.get(id(weight))
    if rows is None:
        rows = _out_features[id(weight)] = weight.shape[0]
        weakref.finalize(weight, _out_features.pop, id(weight), None)
    return rows


def linear(x: Any, weight: Any, bias: Any) -> Any:
    # Hot path: each keyword is one more string MXNet parses per call, so pass no_bias
    # only when it is True.
    out_features = _rows(weight)
    if not out_features or 0 in x.shape:  # MXNet fails (asynchronously for an empty
        # batch) on zero-size operands; torch and TF give zeros (plus the bias)
        out = mnp.zeros(x.shape[:-1] + (out_features,), dtype=x.dtype, ctx=x.ctx)
        return out if bias is None else out + bias
    if bias is None:
        return npx.fully_connected(x, weight, None, no_bias=True, num_hidden=out_features,
                                   flatten=False)
    return npx.fully_connected(x, weight, bias, num_hidden=out_features, flatten=False)


relu = npx.relu  # not npx.activation: its fused relu turns NaN into 0
def sigmoid(x: Any) -> Any:
    # The fused activation is ~4x faster than npx.sigmoid on large inputs and, unlike the
    # fused relu, keeps NaN (checked in tests/test_backend_api.py's NaN tests); but it
    # fails, asynchronously, on an empty array.
    return npx.activation(x, act_type="sigmoid") if x.size else npx.sigmoid(x)

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
zeros_like = mnp.zeros_like
ones_like = mnp.ones_like


def gelu(x: Any) -> Any:
    return npx.leaky_relu(x, act_type="gelu")


def _nan_rows(x: Any, out: Any, axis: int) -> Any:
    # MXNet's softmax keeps a row's other entries when one is NaN; PyTorch and NumPy
    # make the whole row NaN: do the same.
    has_nan = mnp.max(mnp.isnan(x).astype(x.dtype), axis=axis, keepdims=True) > 0
    return mnp.where(has_nan, mnp.full(has_nan.shape, np.nan, dtype=x.dtype, ctx=x.ctx), out)


def softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(x, npx.softmax(x, axis=axis), axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return _nan_rows(x, npx.log_softmax(x, axis=axis), axis)


def _reduce_empty(fn: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # MXNet's sum/mean kernels fail (asynchronously) on zero-size input: the result of
    # reducing nothing is known without them (0 for a sum, NaN for a mean, as in torch).
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = fn(np.zeros(x.shape, x.dtype), axis=_axes(axis), keepdims=keepdims)
    return mnp.array(np.asarray(out, x.dtype), dtype=x.dtype, ctx=x.ctx)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    if not x.size:
        return _reduce_empty(np.sum, x, axis, keepdims)
    return mnp.sum(x, axis=_axes(axis), keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    if not x.size:
        return _reduce_empty(np.mean, x, axis, keepdims)
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

    ``collect_params()`` (neutral names), ``gluon.Trainer``, ``save_parameters`` /
    ``load_parameters`` and ``initialize(force_reinit=True)`` work on the model's own
    storage; the training flag of ``autograd.record(train_mode=...)`` governs the
    polymod model while it runs. ``hybridize()`` and ``cast()`` raise: MXNet 1.9
    compiles only ``hybrid_forward(F, ...)`` code, and polymod models keep their dtype.
    """

    def __init__(self, module: Any):
        super().__init__(prefix="")
        self.polymod_module = module
        for name, handle in module._named_handles(("parameter",)):
            self._params._params[name] = handle.native
            self._reg_params[name] = handle.native  # where save/load_parameters look

    def _follow_gluon(self) -> None:
        # Gluon's initialize/load may give a Parameter a new data array: the polymod
        # model must read that array from now on.
        for _, handle in self.polymod_module._named_handles(("parameter",)):
            data = handle.native.data()
            if data is not handle.value:
                handle.replace_value(data)

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self._follow_gluon()

    def load_parameters(self, *args: Any, **kwargs: Any) -> None:
        super().load_parameters(*args, **kwargs)
        self._follow_gluon()

    def cast(self, dtype: Any) -> None:
        from polymod.errors import StateError

        raise StateError(f"Cannot cast the Gluon twin of a polymod model to {dtype}: the "
                         f"polymod model keeps its dtype (float32). Build the model in the "
                         f"dtype you need instead.")

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


def _check_classes(target: Any, classes: int) -> None:
    # npx.pick clips a class index out of range: a silently wrong loss where torch, TF
    # and NumPy raise. Checking costs one sync per loss; a wrong number costs more.
    if target.size and (float(target.min()) < 0 or float(target.max()) >= classes):
        raise IndexError(f"Target class index out of bounds: expected 0 <= target < "
                         f"{classes}; received values in [{int(target.min())}, "
                         f"{int(target.max())}].")


def cross_entropy(logits: Any, target: Any) -> Any:
    _check_classes(target, logits.shape[-1])
    return -mnp.mean(npx.pick(log_softmax(logits, -1), target, axis=-1))


# -- sequences (embedding, attention, recurrent layers) ------------------------------------
def take(x: Any, indices: Any, axis: int = 0) -> Any:
    return mnp.take(x, indices, axis=axis)  # out-of-range indices are clipped (MXNet)


def embedding(indices: Any, weight: Any, padding_idx: Any = None) -> Any:
    out = mnp.take(weight, indices, axis=0)
    if padding_idx is None:
        return out
    # PyTorch's padding_idx: that row gets no gradient
    pad = mnp.expand_dims(indices == padding_idx, -1)
    return mnp.where(pad, out.detach(), out)


def split(x: Any, sections: int, axis: int = 0) -> list:
    size = x.shape[axis]
    if size % sections:
        raise ValueError(f"split: an axis of size {size} does not split into {sections} "
                         f"equal sections.")
    return list(mnp.split(x, sections, axis=axis))


def masked_fill(x: Any, mask: Any, value: float) -> Any:
    # not mnp.where(mask, value, x): MXNet 1.9's backward of a Python-scalar branch
    # inverts the condition (wrong gradients); a 1-element array branch is right
    return mnp.where(mask, mnp.full((1,), value, dtype=x.dtype, ctx=x.ctx), x)


def expand_dims(x: Any, axis: int) -> Any:
    return mnp.expand_dims(x, axis)


def squeeze(x: Any, axis: int) -> Any:
    return mnp.squeeze(x, axis)


def stop_gradient(x: Any) -> Any:
    return x.detach()


# -- layers: buffers, convolution, pooling, dropout, activations, losses --------------------
def create_buffer(array: np.ndarray, device: Any) -> Any:
    return from_numpy(array, device)


_empty_batch_safe = _empty_batch_guard(  # a [:0] slice would still trip MXNet: fresh arrays
    lambda x: mnp.zeros((1,) + tuple(x.shape[1:]), dtype=x.dtype, ctx=x.ctx),
    lambda out: mnp.zeros((0,) + tuple(out.shape[1:]), dtype=out.dtype, ctx=out.ctx))


@_empty_batch_safe
def conv(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple, dilation: tuple,
         groups: int) -> Any:
    """N-d convolution (NC*), weight (out, in/groups, *kernel); ``padding`` = (lo, hi) pairs."""
    if all(lo == hi for lo, hi in padding):
        pad = tuple(lo for lo, _ in padding)
    else:  # asymmetric ('same' with an even kernel): pad first
        x = mnp.pad(x, ((0, 0), (0, 0)) + tuple(tuple(p) for p in padding))
        pad = (0,) * len(padding)
    return npx.convolution(x, weight, bias, kernel=tuple(weight.shape[2:]), stride=stride,
                           dilate=dilation, pad=pad, num_filter=weight.shape[0],
                           num_group=groups, no_bias=bias is None,
                           layout="NCW" if len(stride) == 1 else "NCHW")


@_empty_batch_safe
def max_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    y = npx.pooling(x, kernel=kernel, stride=stride, pad=padding, pool_type="max")
    # MXNet's max pool skips NaN; PyTorch's keeps it: put it back
    nan = npx.pooling(mnp.isnan(x).astype(x.dtype), kernel=kernel, stride=stride, pad=padding,
                      pool_type="max")
    return mnp.where(nan > 0, mnp.full(y.shape, np.nan, dtype=y.dtype, ctx=y.ctx), y)


@_empty_batch_safe
def avg_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    return npx.pooling(x, kernel=kernel, stride=stride, pad=padding, pool_type="avg",
                       count_include_pad=True)


def dropout(x: Any, p: float) -> Any:
    from polymod.random import dropout_mask

    return x * mnp.array(dropout_mask(tuple(x.shape), p, dtype_of(x)), ctx=x.ctx)


def silu(x: Any) -> Any:
    return x * npx.sigmoid(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    return npx.leaky_relu(x, act_type="leaky", slope=negative_slope)


def bce_with_logits(x: Any, y: Any) -> Any:
    return mnp.maximum(x, 0) - x * y + mnp.log1p(mnp.exp(-mnp.abs(x)))


def cross_entropy_per_sample(logits: Any, target: Any) -> Any:
    _check_classes(target, logits.shape[1])
    return -npx.pick(log_softmax(logits, 1), target, axis=1)


def where(condition: Any, x: Any, y: Any) -> Any:
    # MXNet 1.9's backward of where() with a Python-scalar branch inverts the condition
    # (wrong gradients): make scalars 1-element arrays, which broadcast correctly.
    if not isinstance(x, mnp.ndarray):
        x = mnp.full((1,), x, dtype=getattr(y, "dtype", None), ctx=_ctx_of(condition, y))
    if not isinstance(y, mnp.ndarray):
        y = mnp.full((1,), y, dtype=x.dtype, ctx=_ctx_of(condition, x))
    return mnp.where(condition, x, y)


def _ctx_of(*arrays: Any) -> Any:
    for a in arrays:
        if isinstance(a, mnp.ndarray):
            return a.ctx
    return mx.cpu()
