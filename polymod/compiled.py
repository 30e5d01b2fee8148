"""``pm.compile(net)``: a polymod model run through its framework's compiler.

The core only keeps one compiled function per mode (training or evaluation) and per
tree structure; each adapter's ``compile_module`` builds that function with its
framework's own fast path (``torch.compile``, ``tf.function``, ``jax.jit``) or says why
it cannot. Parameters are never copied: the compiled function reads the model's own
storage, so an optimizer step on the model (or its twin) is seen by the next call.
"""

from __future__ import annotations

from typing import Any

from .errors import BackendTypeError
from .module import Module
from .module.binding import ready_adapter


class CompiledModule:
    """A polymod model compiled by its framework; call it as the model.

    ``train()``/``eval()`` set the model's mode (they return this object); each mode is
    compiled once, on its first call. ``module`` is the polymod model, whose
    parameters, ``state_dict()`` and optimizers are those the compiled code uses.
    Any other attribute is read from the model (``compiled.parameters()``).
    """

    def __init__(self, module: Module, adapter: Any, options: dict[str, Any]):
        self.module = module
        self.backend = adapter.NAME
        self._adapter = adapter
        self._options = options
        self._handles = module.named_handles()  # the same object while the tree is unchanged
        self._by_mode: dict[bool, Any] = {}
        self._function(module.training)  # fails now, not at the first call, where it can

    def _function(self, training: bool) -> Any:
        handles = self.module.named_handles()
        if handles is not self._handles:  # a layer or parameter was added or replaced
            self._handles = handles
            self._by_mode.clear()
        function = self._by_mode.get(training)
        if function is None:
            function = self._adapter.compile_module(self.module, training, dict(self._options))
            self._by_mode[training] = function
        return function

    def __call__(self, *inputs: Any, **keywords: Any) -> Any:
        return self._function(self.module.training)(*inputs, **keywords)

    def train(self, mode: bool = True) -> CompiledModule:
        """Sets the model's training mode; returns this object."""
        self.module.train(mode)
        return self

    def eval(self) -> CompiledModule:
        """Sets the model to evaluation mode; returns this object."""
        return self.train(False)

    @property
    def training(self) -> bool:
        return self.module.training

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.module, name)

    def __repr__(self) -> str:
        return f"CompiledModule({type(self.module).__name__}, backend={self.backend!r})"


def compile(net: Module, **options: Any) -> CompiledModule:  # noqa: A001 -- pm.compile
    """Returns ``net`` compiled by its framework: ``torch.compile``, ``tf.function``, ``jax.jit``.

    * **torch**: ``torch.compile`` over ``pm.native(net)``; ``options`` go to
      ``torch.compile`` (``mode=``, ``backend=``, ``dynamic=``, ``fullgraph=``).
      Gradients flow through it (``loss.backward()``, ``pm.value_and_grad``).
    * **keras**: ``tf.function`` over the model's call; ``options`` go to
      ``tf.function`` (``jit_compile=True`` for XLA, ``reduce_retracing=``).
      Gradients flow through it (``tf.GradientTape``, ``pm.value_and_grad``). A
      model with 2-D convolutions runs channels-last, as TensorFlow's CPU kernels
      want it (weights, layout and numbers unchanged; docs/performance.md);
      ``channels_last=False`` turns that off, and XLA (``jit_compile=True``) lays out
      its own.
    * **jax**: ``jax.jit`` over the pure form (``pm.native(net).apply``): the model's
      current parameters and buffers go in as arguments, so updates are seen; in
      training mode BatchNorm's running statistics are written back after the call,
      and dropout draws from a ``jax.random`` key made from polymod's seeded generator
      on each call (``options`` go to ``jax.jit``). For training, ``jax.jit`` over
      ``jax.value_and_grad`` of ``apply`` is the fast path (docs/jax.md).
    * **gluon**, **numpy**: ``UnsupportedError`` saying why (MXNet 1.9 compiles only
      ``hybrid_forward(F, ...)`` code; NumPy has no compiler).

    The compiled function follows ``net.train()``/``net.eval()`` (each mode is compiled
    on its first call) and is rebuilt after a structural change of the model.

    Raises:
        BackendTypeError: ``net`` is not a polymod ``Module``.
        StateError: ``net`` is not bound to a framework, or has lazy parameters.
        UnsupportedError: the backend cannot compile this model (names the backend and
            why); a model the framework fails to trace raises it at its first call.

    Example:
        >>> import polymod as pm
        >>> net = pm.nn.Linear(4, 2).to("keras")
        >>> fast = pm.compile(net)
        >>> X = pm.rand(3, 4, backend="keras")
        >>> bool(abs(pm.to_numpy(fast(X)) - pm.to_numpy(net(X))).max() < 1e-6)
        True
    """
    if not isinstance(net, Module):
        raise BackendTypeError(f"pm.compile expects a polymod Module; received "
                               f"{type(net).__qualname__}.")
    adapter = ready_adapter(net, "pm.compile")
    return CompiledModule(net, adapter, options)
