"""polymod's exceptions: one base class, each subclass also a fitting built-in.

``except ValueError`` keeps working for a user who does not know polymod, and
``except pm.PolymodError`` catches everything polymod raises on purpose.
"""

from __future__ import annotations


class PolymodError(Exception):
    """Base class of every error polymod raises on purpose.

    ``path`` is the dotted module path where the error happened (``"0.net.2"``),
    filled in as the error travels out through the enclosing modules.
    """

    def __init__(self, message: str, *, module: object = None, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.module = module
        self.path = path

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = self.path or "<root>"
        return f"{self.message} (in module '{where}')"


class BackendTypeError(PolymodError, TypeError):
    """A tensor of the wrong backend, dtype or Python type."""


class DTypeError(BackendTypeError):
    """A dtype that does not fit: input of another float dtype than the model's, or a
    dtype a backend cannot compute on its device (the message names backend, dtype, op)."""


class ShapeError(PolymodError, ValueError):
    """A shape that does not fit the layer."""


class BackendNameError(PolymodError, ValueError):
    """An unknown backend name."""


class NameClashError(PolymodError, ValueError):
    """A name that would hide something: an attribute named like a ``Module`` method,
    a ``ModuleDict`` key named like one of its attributes."""


class StateError(PolymodError, RuntimeError):
    """Module state that does not allow the operation (uninitialised, cycles)."""


class UninitializedParameterError(StateError, AttributeError):
    """A lazy parameter was touched before its shape was known.

    Also an ``AttributeError`` so that ``hasattr(layer, "weight")`` answers
    False instead of raising.
    """


class WeightsFileError(PolymodError, ValueError):
    """A weights file that cannot be loaded into the model (all problems listed)."""


class WeightsFileOSError(WeightsFileError, OSError):
    """A weights file the operating system would not let polymod read or write (missing,
    no permission, disk full): also an ``OSError``, with ``errno`` and ``filename``."""


class BackendUnavailableError(PolymodError, ImportError):
    """The framework behind a backend is not installed."""


class UnsupportedError(PolymodError, NotImplementedError):
    """A model, layer or operation that polymod cannot convert (``pm.from_torch``).

    ``nodes`` lists every operation that does not convert, each with the original's
    target and source line, so one error shows all that is missing.
    """

    def __init__(self, message: str, *, nodes: list[str] | None = None, **kwargs: object):
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.nodes = list(nodes or [])


__all__ = [
    "PolymodError",
    "BackendTypeError",
    "DTypeError",
    "ShapeError",
    "BackendNameError",
    "StateError",
    "UninitializedParameterError",
    "WeightsFileError",
    "WeightsFileOSError",
    "BackendUnavailableError",
    "NameClashError",
    "UnsupportedError",
]
