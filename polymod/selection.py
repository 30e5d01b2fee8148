"""Which backend runs when the data does not say: ``backend=`` > ``use_backend`` >
``set_backend`` > ``POLYMOD_BACKEND`` > the reference (NumPy, which imports nothing)."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from types import ModuleType

from . import registry
from .errors import BackendNameError, StateError

# The use_backend stack: a context variable, so each thread and each asyncio task has its own.
_scoped: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "polymod_backend", default=())
_process_default: str | None = None


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
    if not env:
        return registry.REFERENCE
    try:
        return registry.canonical_name(env)
    except BackendNameError as err:
        raise BackendNameError(f"POLYMOD_BACKEND={env!r}: {err}") from None


def set_backend(name: str) -> None:
    """Sets the process-wide default backend (``use_backend`` still wins inside its block)."""
    global _process_default
    _process_default = registry.canonical_name(name)


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
    name = registry.canonical_name(name)
    token = _scoped.set(_scoped.get() + (name,))
    try:
        yield name
    finally:
        try:
            _scoped.reset(token)
        except ValueError:  # exited in another asyncio task or thread than it was entered
            raise StateError(
                f"use_backend({name!r}) was entered in one thread or asyncio task and exited "
                f"in another; enter and exit it in the same task (e.g. inside the coroutine "
                f"that needs it).") from None


def chosen_adapter(backend: str | None = None) -> ModuleType:
    """The adapter for an explicit ``backend=`` argument, or for the default backend."""
    return registry.adapter(backend if backend is not None else get_backend())
