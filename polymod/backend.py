"""Backend names, the default backend, and finding the adapter of a tensor.

Adapters live in ``polymod.backends.<name>`` and are imported the first time
they are needed; ``import polymod`` imports no framework. A tensor's adapter is
found by a dict lookup on ``type(x)``; the first tensor of a new type is
resolved once (einops' ``_type2backend`` idea) and cached.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from .errors import BackendNameError, BackendTypeError, BackendUnavailableError

BACKENDS = ("numpy", "torch", "keras", "gluon")
ALIASES = {"tensorflow": "keras", "tf": "keras", "mxnet": "gluon", "mx": "gluon"}
# The Python packages each backend needs, and the pip extra that installs them.
FRAMEWORK_MODULES = {"numpy": (), "torch": ("torch",), "keras": ("tensorflow", "keras"),
                     "gluon": ("mxnet",)}
PIP_EXTRA = {"torch": "torch", "keras": "keras", "gluon": "gluon"}

_adapters: dict[str, ModuleType] = {}
_adapter_by_type: dict[type, ModuleType] = {}
# The use_backend stack: a context variable, so each thread and each asyncio task has its own.
_scoped: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "polymod_backend", default=())
_process_default: str | None = None


def canonical_name(name: str) -> str:
    """Returns the canonical backend name for ``name`` or an alias of it.

    Raises:
        BackendNameError: ``name`` is not a backend; the message lists the valid names.
    """
    if not isinstance(name, str):
        raise BackendNameError(
            f"A backend name must be a string; received {type(name).__name__} {name!r}. "
            f"Valid names: {_valid_names()}.")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in BACKENDS:
        raise BackendNameError(f"Unknown backend {name!r}. Valid names: {_valid_names()}.")
    return key


def _valid_names() -> str:
    aliases = ", ".join(f"{a!r} (= {b!r})" for a, b in ALIASES.items())
    return ", ".join(repr(b) for b in BACKENDS) + "; aliases " + aliases


def is_installed(name: str) -> bool:
    """Whether the framework of backend ``name`` can be imported (it is not imported)."""
    return all(importlib.util.find_spec(m) is not None
               for m in FRAMEWORK_MODULES[canonical_name(name)])


def available_backends() -> list[str]:
    """Lists the backends whose frameworks are installed, without importing them.

    Example:
        >>> import polymod as pm
        >>> "numpy" in pm.available_backends()
        True
    """
    return [name for name in BACKENDS if is_installed(name)]


def adapter(name: str) -> ModuleType:
    """Returns the adapter module of backend ``name``, importing it on first use.

    Raises:
        BackendNameError: unknown name.
        BackendUnavailableError: the framework is not installed (names the pip extra).
    """
    found = _adapters.get(name)
    if found is not None:
        return found
    name = canonical_name(name)
    if name not in _adapters:
        missing = [m for m in FRAMEWORK_MODULES[name] if importlib.util.find_spec(m) is None]
        if missing:
            raise BackendUnavailableError(
                f"Backend {name!r} needs {', '.join(missing)}, which is not installed. "
                f"Install it with: pip install 'polymod[{PIP_EXTRA[name]}]'") from None
        module = importlib.import_module(f"polymod.backends.{name}")
        _adapters[name] = module
        for tensor_type in module.TENSOR_TYPES:
            _adapter_by_type.setdefault(tensor_type, module)
    return _adapters[name]


def adapter_of(x: Any) -> ModuleType:
    """The adapter owning tensor ``x`` (the numpy adapter for NumPy arrays).

    Raises:
        BackendTypeError: ``x`` is not a tensor of any backend.
    """
    try:
        return _adapter_by_type[type(x)]
    except KeyError:
        return _resolve_type(x)


def _resolve_type(x: Any) -> ModuleType:
    kind = type(x)
    for name in BACKENDS:
        # Only a framework the user (or polymod) already imported can own x.
        if name != "numpy" and FRAMEWORK_MODULES[name][0] not in sys.modules:
            continue
        module = adapter(name)
        if isinstance(x, module.TENSOR_TYPES):
            _adapter_by_type[kind] = module
            return module
    raise BackendTypeError(
        f"Expected a tensor (NumPy array, torch.Tensor, TensorFlow tensor or mx.np.ndarray); "
        f"received {kind.__module__}.{kind.__qualname__}.")


def backend_of(x: Any) -> str:
    """Names the backend a tensor belongs to: 'torch', 'keras', 'gluon' or 'numpy'.

    Example:
        >>> import numpy as np, polymod as pm
        >>> pm.backend_of(np.zeros(3))
        'numpy'
    """
    return adapter_of(x).NAME


def get_backend() -> str:
    """The default backend: ``use_backend`` > ``set_backend`` > ``POLYMOD_BACKEND`` > numpy.

    Example:
        >>> import polymod as pm
        >>> with pm.use_backend("numpy"):
        ...     pm.get_backend()
        'numpy'
    """
    scoped = _scoped.get()
    if scoped:
        return scoped[-1]
    if _process_default is not None:
        return _process_default
    env = os.environ.get("POLYMOD_BACKEND")
    return canonical_name(env) if env else "numpy"


def set_backend(name: str) -> None:
    """Sets the process-wide default backend (``use_backend`` still wins inside its block)."""
    global _process_default
    _process_default = canonical_name(name)


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Makes ``name`` the default backend inside a ``with`` block, for this thread (and
    asyncio task) only.

    Example:
        >>> import polymod as pm
        >>> with pm.use_backend("numpy") as name:
        ...     name
        'numpy'
    """
    name = canonical_name(name)
    token = _scoped.set(_scoped.get() + (name,))
    try:
        yield name
    finally:
        _scoped.reset(token)


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


def resolve(backend: str | None) -> ModuleType:
    """The adapter for an explicit ``backend=`` argument, or for the default one."""
    return adapter(canonical_name(backend) if backend is not None else get_backend())
