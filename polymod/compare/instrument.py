"""The instrument: every submodule's output seen (and perhaps nudged) while compare runs.

``watching(net, hook)`` puts a ``forward`` on each submodule *instance* that calls
the class's own and passes the output through ``hook(path, output)``. It exists
only inside the ``with`` block: on the way out (an error, a timeout included) each
instance gets back exactly what it had, so a model that was never compared pays
nothing and keeps no trace of it. ``Module.__call__`` calls ``self.forward``, so
the instance attribute takes effect without any hook machinery in the core.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from .. import registry
from ..dtypes import eps, is_float
from ..errors import BackendTypeError
from .leaves import map_leaves, named_leaves, tensor_array

_MISSING = object()


@contextlib.contextmanager
def watching(net: Any, hook: Callable[[str, Any], Any]) -> Iterator[None]:
    """Routes every submodule's output through ``hook(path, output)`` inside the block."""
    swapped: list[tuple[Any, Any]] = []
    try:
        for path, module in net.named_modules():
            before = module.__dict__.get("forward", _MISSING)
            forward = module.forward

            def watched(*args: Any, _forward: Any = forward, _path: str = path,
                        **kwargs: Any) -> Any:
                return hook(_path, _forward(*args, **kwargs))

            module.__dict__["forward"] = watched
            swapped.append((module, before))
        yield
    finally:
        for module, before in reversed(swapped):
            if before is _MISSING:
                module.__dict__.pop("forward", None)
            else:
                module.__dict__["forward"] = before


class Event(NamedTuple):
    """One tensor a submodule returned: its path, which call of it, which leaf."""

    module: str  # dotted path; '' is the whole model
    call: int  # 1 for the first call of that submodule in one forward pass
    leaf: str  # '' for a tensor output, '[0]' or "['logits']" inside a nest

    @property
    def label(self) -> str:
        """How reports name it: ``layer1.0.relu (call 2)``, ``encoder[0]``, ``(model)``."""
        text = (self.module or "(model)") + self.leaf
        return text if self.call == 1 else f"{text} (call {self.call})"


class Recorder:
    """The hook of a compare run: records each output and/or nudges it by one rounding.

    Args:
        record: keep a NumPy copy of every tensor output, in completion order.
        nudge_seed: if not None, multiply every float output of every submodule (not
            the whole model's) by ``1 ± eps`` with random signs drawn from this seed:
            the rounding-noise estimate of the tolerance rule.
    """

    def __init__(self, record: bool, nudge_seed: int | None = None):
        self.record = record
        self.events: list[tuple[Event, np.ndarray]] = []
        self._calls: dict[str, int] = {}
        self._rng = None if nudge_seed is None else np.random.default_rng([nudge_seed, 11])

    def __call__(self, path: str, output: Any) -> Any:
        call = self._calls[path] = self._calls.get(path, 0) + 1
        if self._rng is not None and path:
            output = map_leaves(output, self._nudge)
        if self.record:
            for leaf, value in named_leaves(output, ""):
                array = tensor_array(value)
                if array is not None:
                    self.events.append((Event(path, call, leaf), array))
        return output

    def _nudge(self, value: Any) -> Any:
        try:
            adapter = registry.adapter_of(value)
        except BackendTypeError:
            return value
        dtype = adapter.dtype_of(value)
        if not is_float(dtype):
            return value
        shape = tuple(adapter.shape(value))
        signs = self._rng.integers(0, 2, size=shape) * 2 - 1
        factor = (1.0 + eps(dtype) * signs).astype(dtype)
        return value * adapter.from_numpy(factor)


class Timeout(BaseException):
    """Raised inside a run that took longer than its ``timeout`` (not an ``Exception``,
    so no ``except Exception`` on the way up swallows it)."""


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raises ``Timeout`` in the block after ``seconds`` (POSIX, main thread; elsewhere the
    run is not interrupted and ``compare`` checks the time afterwards).

    A framework's op that is running when the time is up finishes first: the signal
    is handled when control is back in Python.
    """
    if not seconds or threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Timeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
