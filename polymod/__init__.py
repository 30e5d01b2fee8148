"""polymod: write a neural-network module once; run it on PyTorch, Keras 3, MXNet Gluon,
JAX and NumPy, with the same initial weights and the same results.

Example:
    >>> import polymod as pm
    >>> from polymod import nn
    >>> pm.seed(0)
    >>> net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
    >>> net(pm.rand(2, 20, backend="numpy")).shape
    (2, 10)
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import (
    BackendNameError,
    BackendTypeError,
    BackendUnavailableError,
    DTypeError,
    NameClashError,
    PolymodError,
    ShapeError,
    StateError,
    UninitializedParameterError,
    UnsupportedError,
    WeightsFileError,
    WeightsFileOSError,
)
from .registry import available_backends, backend_of
from .selection import get_backend, set_backend, use_backend

__version__ = "0.1.0"

# Everything else loads on first use (PEP 562), so `import polymod` stays cheap: no
# framework, and not even the module system until a model is built.
_LAZY = {
    "Module": ".module", "Handle": ".handles", "Parameter": ".handles", "Constant": ".handles",
    "Buffer": ".handles", "constant": ".handles",
    "seed": ".random", "rand": ".random", "randn": ".random",
    "zeros": ".tensor", "ones": ".tensor", "asarray": ".tensor", "to_numpy": ".tensor",
    "value_and_grad": ".autograd", "no_grad": ".autograd", "native": ".native",
    "compile": ".compiled", "CompiledModule": ".compiled",
    "functional_call": ".functional",
    "save": ".io", "load": ".io", "load_native": ".io", "from_torch": ".interop",
    "save_checkpoint": ".checkpoint", "load_checkpoint": ".checkpoint",
    "summary": ".summary", "Summary": ".summary", "float_dtype": ".dtypes",
}
_SUBMODULES = {"nn", "ops", "init", "optim", "io", "testing", "registry", "selection",
               "examples", "compare", "interop", "convert", "functional"}

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from . import functional, init, io, nn, ops, optim, testing
    from .autograd import no_grad, value_and_grad
    from .checkpoint import load_checkpoint, save_checkpoint
    from .compiled import CompiledModule, compile
    from .dtypes import float_dtype
    from .functional import functional_call
    from .handles import Buffer, Constant, Handle, Parameter, constant
    from .interop import from_torch
    from .io import load, load_native, save
    from .module import Module
    from .native import native
    from .random import rand, randn, seed
    from .summary import Summary, summary
    from .tensor import asarray, ones, to_numpy, zeros


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _SUBMODULES:
        # not `from . import x`: that would ask this __getattr__ again
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'polymod' has no attribute {name!r}")
    globals()[name] = value  # once: later reads are plain attribute reads
    return value


class _Package(types.ModuleType):
    """polymod's module type: importing the submodule ``polymod.summary`` (or ``.native``)
    does not replace the function ``pm.summary`` of the same name, whatever came first
    (Python binds a submodule on its package once it is imported: a test run that imports
    the module before using the function would otherwise find the module there)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # the lazy function is read through __getattr__, from that module
        super().__setattr__(name, value)


_SHADOWED = {name for name, where in _LAZY.items() if where == f".{name}"}
sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = [
    "Module", "Handle", "Parameter", "Constant", "Buffer", "constant",
    "nn", "ops", "init", "optim", "io", "testing",
    "available_backends", "set_backend", "get_backend", "use_backend", "backend_of",
    "seed", "rand", "randn", "zeros", "ones", "asarray", "to_numpy",
    "value_and_grad", "no_grad", "functional_call", "functional", "native", "compile",
    "CompiledModule", "save", "load",
    "load_native", "save_checkpoint", "load_checkpoint", "summary", "Summary",
    "float_dtype", "DTypeError",
    "PolymodError", "BackendTypeError", "BackendNameError", "BackendUnavailableError",
    "ShapeError", "NameClashError", "StateError", "UninitializedParameterError",
    "WeightsFileError", "WeightsFileOSError", "UnsupportedError", "from_torch",
]
