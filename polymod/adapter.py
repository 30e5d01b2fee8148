"""The adapter interface: what every ``polymod.backends.<name>`` module defines.

The core talks to a framework only through these names, so this page is the whole
contract of an adapter; ``tests/test_adapters.py`` checks every adapter against
``Adapter`` (the list of names comes from here). Each adapter is the only place its
framework is imported.

Rules every adapter follows:

* **Ownership.** ``create_parameter``, ``create_buffer`` and ``create_constant`` receive
  a NumPy array that nothing else references (the core copies first when it cannot
  promise that), so an adapter may keep it as its storage without copying.
  ``to_numpy`` returns a fresh array the caller owns.
* **Layout.** Tensors are in PyTorch's layout: data ``(N, C, *spatial)``, a Linear
  weight ``(out, in)``, a conv weight ``(out, in / groups, *kernel)``.
* **Arguments are checked once, in the core** (``polymod.ops``): an adapter function
  receives normalised arguments (axes as ints or tuples, padding as ``(lo, hi)`` pairs)
  and lets its framework fail on anything else.
* **Composed once, fused where it pays.** Ops that are the same arithmetic on every
  backend (``hardswish``, the norms, ``interpolate``, attention) are written once in
  ``polymod.ops`` from the others; an adapter whose framework has a fused kernel with
  the same numbers lists it in ``FUSED`` under the op's name, and the core calls it
  instead (one dict lookup).
* **Same numbers.** Results agree with the NumPy adapter to float32 rounding, NaN and
  inf included; where a framework's op differs (NaN-skipping reductions, fused
  activations that drop NaN), the adapter fixes it or does not use that op.

A new backend is one module (a file, or a package whose ``__init__`` exports these
names) in ``backends/`` plus one ``BackendSpec`` in ``polymod/registry.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

Tensor = Any  # the framework's own tensor type


class Adapter(Protocol):
    """Every name an adapter module defines, with its one-line contract."""

    NAME: str  # the canonical backend name, as in its BackendSpec
    TENSOR_TYPES: tuple[type, ...]  # the framework's tensor (and variable) types
    # polymod.ops name -> the framework's fused kernel for an op the core composes from
    # the others (same normalised arguments, same numbers, faster); {} where it has none.
    # One entry is a layer's: "batch_norm" (nn.BatchNorm1d/2d), called as
    # (x, running_mean, running_var, weight, bias, use_batch_stats, factor, eps) and
    # returning (out, None) when it wrote the running statistics in place (or had none
    # to write), (out, (new_mean, new_var)) for the layer to write, or None for input
    # it does not take (the layer composes it then); PyTorch's update and numbers.
    FUSED: dict[str, Callable[..., Tensor]]

    # -- tensors and storage ----------------------------------------------------------
    def version(self) -> str: """The framework's version(s), for ``polymod info``."""
    def from_numpy(self, array: np.ndarray, device: Any = None) -> Tensor: """A tensor on ``device`` (None: the CPU) with ``array``'s values and dtype; may share memory."""
    def to_numpy(self, x: Tensor) -> np.ndarray: """A fresh NumPy copy of ``x`` (detached from any graph)."""
    def dtype_of(self, x: Tensor) -> np.dtype: """``x``'s dtype as a NumPy dtype."""
    def dtype_problem(self, dtype: np.dtype) -> str | None: """None if models compute in float ``dtype`` here, else why not (naming the op that fails)."""
    def shape(self, x: Tensor) -> tuple: """``x``'s shape as a tuple (None for sizes unknown in a traced graph)."""
    def device_of(self, x: Tensor) -> Any: """``x``'s device, None for the CPU."""
    def create_parameter(self, array: np.ndarray, name: str, trainable: bool, device: Any) -> tuple: """``(native parameter object, tensor that forward reads)`` over ``array`` (owned)."""
    def create_buffer(self, array: np.ndarray, device: Any) -> Tensor: """Non-trainable state that ``assign`` can change in place, over ``array`` (owned)."""
    def create_constant(self, array: np.ndarray, device: Any) -> Tensor: """A non-trainable tensor that ``assign`` can overwrite, over ``array`` (owned)."""
    def assign(self, target: Tensor, value: Any) -> Tensor | None: """Writes ``value`` (NumPy data or a tensor of this backend, same shape) into ``target`` in place and returns None; where ``target`` is immutable (JAX arrays) returns the new tensor instead, and the caller re-points the handle (``Parameter.replace_value``)."""
    def set_trainable(self, native: Any, flag: bool) -> None: """Sets the framework's own trainable flag of a parameter."""
    def is_trainable(self, native: Any, stored: bool) -> bool: """The framework's own trainable flag (``stored`` where it has none)."""

    # -- autograd ---------------------------------------------------------------------
    def no_grad(self) -> AbstractContextManager: """A context in which nothing is recorded for gradients."""
    def value_and_grad(self, fn: Callable[[], tuple], tensors: list) -> tuple: """``fn()`` returns ``(value, aux)``; returns ``(value, aux, [d value / d t for t in tensors])``, zeros for unused tensors (aux passes through the return value, so a tracing framework can hand it out)."""

    # -- optimizer updates ------------------------------------------------------------
    # What pm.optim's rules are written with (see polymod/optim/). Each takes lists of
    # tensors of this backend, runs inside no_grad(), and writes every x of ``xs`` (the
    # first list) with the framework's own in-place or fused kernels. Each returns None
    # when it wrote in place; an adapter whose arrays are immutable (JAX) returns the new
    # values instead (a list, or for adam_ a tuple of lists), and the core re-points the
    # parameter handles and optimizer state to them. Scalars are Python floats.
    def axpby_(self, xs: list, a: float, ys: list | None, b: float) -> list | None: """x <- a*x + b*y for each pair (ys None: x <- a*x)."""
    def addcmul_(self, xs: list, a: float, ys: list, zs: list, b: float) -> list | None: """x <- a*x + b*y*z."""
    def addcdiv_sqrt_(self, xs: list, a: float, ys: list, zs: list, c: float, eps: float, b: float) -> list | None: """x <- a*x + b*y / (sqrt(z)/c + eps)."""
    def adam_(self, params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, beta1: float, beta2: float, step_size: float, c: float, eps: float, decay: float) -> tuple | None: """Adam (torch's formula): p <- p*(1-decay); m <- b1*m + (1-b1)*g; v <- b2*v + (1-b2)*g*g; p <- p - step_size*m / (sqrt(v)/c + eps)."""

    # -- native objects ---------------------------------------------------------------
    def native_twin(self, module: Any) -> Any: """The framework's own model object over ``module``'s parameter storage."""
    def export_weights(self, source: Any) -> Any: """A framework model's weights: ``{name: array}`` or a list in creation order."""
    def compile_module(self, module: Any, training: bool, options: dict) -> Callable: """``module`` (bound, built, in mode ``training``) compiled by the framework, ``options`` its compiler's keywords: a function of the inputs over the model's own storage; ``UnsupportedError`` naming the backend and why where it cannot."""

    # -- elementwise ------------------------------------------------------------------
    def relu(self, x: Tensor) -> Tensor: """max(x, 0), NaN kept."""
    def sigmoid(self, x: Tensor) -> Tensor: """1 / (1 + exp(-x))."""
    def tanh(self, x: Tensor) -> Tensor: """Hyperbolic tangent."""
    def gelu(self, x: Tensor) -> Tensor: """GELU, exact erf form."""
    def silu(self, x: Tensor) -> Tensor: """x * sigmoid(x)."""
    def leaky_relu(self, x: Tensor, negative_slope: float) -> Tensor: """x if x >= 0 else slope * x."""
    def gelu_tanh(self, x: Tensor) -> Tensor: """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))."""
    def relu6(self, x: Tensor) -> Tensor: """min(max(x, 0), 6), NaN kept; gradient 1 only where 0 < x < 6."""
    def softplus(self, x: Tensor, beta: float, threshold: float) -> Tensor: """log1p(exp(beta x)) / beta, x where beta x > threshold; no NaN gradient from the unused branch."""
    def elu(self, x: Tensor, alpha: float) -> Tensor: """x if x > 0 else alpha (exp(x) - 1); NaN kept; no NaN gradient from the unused branch."""
    def add(self, a: Any, b: Any) -> Tensor: """a + b (broadcasting)."""
    def subtract(self, a: Any, b: Any) -> Tensor: """a - b."""
    def multiply(self, a: Any, b: Any) -> Tensor: """a * b."""
    def divide(self, a: Any, b: Any) -> Tensor: """a / b."""
    def maximum(self, a: Any, b: Any) -> Tensor: """Elementwise maximum (a Python number on either side allowed)."""
    def minimum(self, a: Any, b: Any) -> Tensor: """Elementwise minimum (a Python number on either side allowed)."""
    def abs(self, x: Tensor) -> Tensor: """|x|."""
    def exp(self, x: Tensor) -> Tensor: """e ** x."""
    def log(self, x: Tensor) -> Tensor: """Natural logarithm."""
    def sqrt(self, x: Tensor) -> Tensor: """Square root."""
    def where(self, condition: Tensor, x: Any, y: Any) -> Tensor: """x where condition else y (scalars allowed for x, y)."""
    def zeros_like(self, x: Tensor) -> Tensor: """Zeros of x's shape and dtype."""
    def ones_like(self, x: Tensor) -> Tensor: """Ones of x's shape and dtype."""
    def astype(self, x: Tensor, dtype: Any) -> Tensor: """x converted to ``dtype`` (a NumPy dtype or name)."""
    def stop_gradient(self, x: Tensor) -> Tensor: """The same values, cut from the gradient graph."""
    def pow(self, a: Any, b: Any) -> Tensor: """a ** b (a Python number on either side allowed)."""
    def rsqrt(self, x: Tensor) -> Tensor: """1 / sqrt(x)."""
    def erf(self, x: Tensor) -> Tensor: """The error function."""
    def sin(self, x: Tensor) -> Tensor: """Sine."""
    def cos(self, x: Tensor) -> Tensor: """Cosine."""
    def clip(self, x: Tensor, min: Any, max: Any) -> Tensor: """x limited to [min, max] (numbers, one may be None); NaN kept; gradient 1 where min <= x <= max."""

    # -- reductions, shapes -----------------------------------------------------------
    def sum(self, x: Tensor, axis: Any, keepdims: bool) -> Tensor: """Sum over ``axis`` (None: all; an int or a tuple)."""
    def mean(self, x: Tensor, axis: Any, keepdims: bool) -> Tensor: """Mean over ``axis``; NaN for an empty reduction."""
    def max(self, x: Tensor, axis: Any, keepdims: bool) -> Tensor: """Maximum over ``axis``; NaN wins."""
    def min(self, x: Tensor, axis: Any, keepdims: bool) -> Tensor: """Minimum over ``axis``; NaN wins."""
    def var(self, x: Tensor, axis: Any, keepdims: bool, correction: float) -> Tensor: """sum((x - mean)**2) / (n - correction) over ``axis``; inf/NaN (no warning) when n <= correction."""
    def argmax(self, x: Tensor, axis: int | None, keepdims: bool) -> Tensor: """int64 index of the first maximum (flattened for None); a NaN counts as the maximum. Never empty (checked by the core)."""
    def argmin(self, x: Tensor, axis: int | None, keepdims: bool) -> Tensor: """int64 index of the first minimum (flattened for None); a NaN counts as the minimum."""
    def logsumexp(self, x: Tensor, axis: Any, keepdims: bool) -> Tensor: """log(sum(exp(x))) without overflow; all -inf gives -inf, +inf gives +inf, NaN gives NaN."""
    def cumsum(self, x: Tensor, axis: int) -> Tensor: """Cumulative sum along ``axis`` (a non-negative int), dtype kept (the core casts integers to int64)."""
    def softmax(self, x: Tensor, axis: int) -> Tensor: """Softmax; a row holding NaN is all NaN."""
    def log_softmax(self, x: Tensor, axis: int) -> Tensor: """Log-softmax; a row holding NaN is all NaN."""
    def matmul(self, a: Tensor, b: Tensor) -> Tensor: """a @ b, 1-D operands as NumPy takes them."""
    def reshape(self, x: Tensor, shape: tuple) -> Tensor: """x with a new shape (-1 infers one size)."""
    def permute_dims(self, x: Tensor, axes: tuple | None) -> Tensor: """Axes reordered (reversed for None)."""
    def flatten(self, x: Tensor, start_dim: int) -> Tensor: """Axes from ``start_dim`` on merged into one."""
    def concat(self, xs: Sequence[Tensor], axis: int) -> Tensor: """Joined along an existing axis."""
    def stack(self, xs: Sequence[Tensor], axis: int) -> Tensor: """Joined along a new axis."""
    def split(self, x: Tensor, sections: int, axis: int) -> list: """``sections`` equal parts along ``axis`` (divisibility checked by the core)."""
    def expand_dims(self, x: Tensor, axis: int) -> Tensor: """A new axis of size 1 at ``axis``."""
    def squeeze(self, x: Tensor, axis: int) -> Tensor: """Axis ``axis`` (of size 1) removed."""
    def take(self, x: Tensor, indices: Tensor, axis: int) -> Tensor: """Elements at integer ``indices`` along ``axis`` (``np.take``'s shape)."""
    def masked_fill(self, x: Tensor, mask: Tensor, value: float) -> Tensor: """x with ``value`` where the boolean ``mask`` holds."""
    def take_along_axis(self, x: Tensor, indices: Tensor, axis: int) -> Tensor: """``torch.gather(x, axis, indices)``; indices as x outside ``axis`` (the core slices x)."""
    def broadcast_to(self, x: Tensor, shape: tuple) -> Tensor: """x broadcast to ``shape`` (no -1: the core resolves it)."""
    def tril(self, x: Tensor, k: int) -> Tensor: """Zeros above diagonal ``k`` of the last two axes (any dtype; NaN above it becomes 0)."""
    def triu(self, x: Tensor, k: int) -> Tensor: """Zeros below diagonal ``k`` of the last two axes."""
    def einsum(self, subscripts: str, *operands: Tensor) -> Tensor: """Einstein summation, NumPy's notation."""
    def pad(self, x: Tensor, pad_width: tuple, value: float) -> Tensor: """Constant padding, ``pad_width`` one (before, after) pair of ints >= 0 per axis."""

    # -- layers -----------------------------------------------------------------------
    def linear(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor: """x @ weight.T + bias, weight (out, in); 1-D and N-D x too."""
    def embedding(self, indices: Tensor, weight: Tensor, padding_idx: int | None) -> Tensor: """Rows of ``weight``; the padding row gets no gradient."""
    def conv(self, x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple, padding: tuple, dilation: tuple, groups: int) -> Tensor: """1-D/2-D convolution, NC* layout; ``padding`` as (lo, hi) pairs."""
    def conv_transpose(self, x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple, padding: tuple, output_padding: tuple, dilation: tuple, groups: int) -> Tensor: """1-D/2-D transposed convolution, NC* layout, weight (in, out / groups, *kernel); ``padding`` symmetric ints."""
    def max_pool2d(self, x: Tensor, kernel: tuple, stride: tuple, padding: tuple) -> Tensor: """Max pooling of NCHW input; NaN in a window gives NaN."""
    def avg_pool2d(self, x: Tensor, kernel: tuple, stride: tuple, padding: tuple) -> Tensor: """Average pooling of NCHW input, zero padding counted."""
    def dropout(self, x: Tensor, p: float) -> Tensor: """x times a keep/(1-p) mask from polymod's generator (the framework's RNG when traced)."""
    def cross_entropy(self, logits: Tensor, target: Tensor) -> Tensor: """Mean cross-entropy of (N, C) logits against class indices."""
    def cross_entropy_per_sample(self, logits: Tensor, target: Tensor) -> Tensor: """Per-sample cross-entropy, class axis 1."""
    def bce_with_logits(self, x: Tensor, y: Tensor) -> Tensor: """Elementwise binary cross-entropy of logits, stable form."""


def interface_names() -> list[str]:
    """Every name an adapter must define, in the order above."""
    names = list(Adapter.__annotations__)
    names += [n for n, v in vars(Adapter).items() if callable(v) and not n.startswith("_")]
    return names


def assemble(namespace: dict[str, Any], *parts: Any) -> None:
    """Fills an adapter package's namespace with every interface name, from its parts.

    An adapter's ``__init__`` defines ``NAME``, ``TENSOR_TYPES`` and ``version`` and calls
    ``assemble(globals(), tensors, autograd, ops, layers, twin)``: each other name of
    ``Adapter`` is taken from the first part that defines it. The list of names lives
    here only, so adding an adapter function is one line in the Protocol and one
    function in each adapter.

    Raises:
        ImportError: a part lacks an interface name (the adapter is incomplete).
    """
    missing = []
    for name in interface_names():
        if name in namespace:
            continue
        for part in parts:
            if name in vars(part):
                namespace[name] = vars(part)[name]
                break
        else:
            missing.append(name)
    if missing:
        raise ImportError(f"Adapter {namespace.get('__name__')} lacks {missing} (the names of "
                          f"polymod.adapter.Adapter).")


def empty_batch_safe(make_batch_of_one: Callable[[Any], Any],
                     make_empty: Callable[[Any], Any]) -> Callable:
    """Decorator for an adapter op its framework cannot run on an empty batch.

    MXNet fails asynchronously (much later, anywhere) and TensorFlow's BiasAdd refuses,
    where torch and NumPy return an empty result. The guarded op runs on a batch of
    one zero sample (``make_batch_of_one(x)``) to learn the output's shape and dtype,
    and returns ``make_empty(that output)``: an empty batch of the same kind. Nothing
    flows back from it, so every gradient is zero, as for an empty batch in torch.
    """

    def decorate(op: Callable) -> Callable:
        @functools.wraps(op)
        def guarded(x: Any, *args: Any) -> Any:
            if x.shape[0] == 0:
                return make_empty(op(make_batch_of_one(x), *args))
            return op(x, *args)

        return guarded

    return decorate
