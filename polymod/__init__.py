"""polymod: write a neural-network module once; run it on PyTorch, Keras 3, MXNet Gluon
and NumPy, with the same initial weights and the same results.

Example:
    >>> import polymod as pm
    >>> from polymod import nn
    >>> pm.seed(0)
    >>> net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
    >>> net(pm.rand(2, 20, backend="numpy")).shape
    (2, 10)
"""

from . import init, nn, ops, optim
from .autograd import no_grad, value_and_grad
from .checkpoint import load_checkpoint, save_checkpoint
from .errors import (
    BackendNameError,
    BackendTypeError,
    BackendUnavailableError,
    NameClashError,
    PolymodError,
    ShapeError,
    StateError,
    UninitializedParameterError,
    WeightsFileError,
)
from .io import load, load_native, save
from .module import Module
from .native import native
from .parameter import Buffer, Constant, Parameter, constant
from .random import rand, randn, seed
from .registry import available_backends, backend_of
from .selection import get_backend, set_backend, use_backend
from .summary import Summary, summary
from .tensor import asarray, ones, to_numpy, zeros

__version__ = "0.1.0"


def __getattr__(name: str):  # PEP 562: `pm.testing` loads on first use (import time budget)
    if name == "testing":
        import importlib  # not `from . import testing`: that asks this __getattr__ again

        return importlib.import_module(f"{__name__}.testing")
    raise AttributeError(f"module 'polymod' has no attribute {name!r}")


__all__ = [
    "Module", "Parameter", "Constant", "Buffer", "constant",
    "nn", "ops", "init", "optim", "testing",
    "available_backends", "set_backend", "get_backend", "use_backend", "backend_of",
    "seed", "rand", "randn", "zeros", "ones", "asarray", "to_numpy",
    "value_and_grad", "no_grad", "native", "save", "load", "load_native",
    "save_checkpoint", "load_checkpoint", "summary", "Summary",
    "PolymodError", "BackendTypeError", "BackendNameError", "BackendUnavailableError",
    "ShapeError", "NameClashError", "StateError", "UninitializedParameterError",
    "WeightsFileError",
]
