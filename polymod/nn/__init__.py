"""Layers, following PyTorch's names, signatures and ``state_dict`` keys.

Example:
    >>> import polymod as pm
    >>> from polymod import nn
    >>> net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
    >>> net(pm.rand(2, 20, backend="numpy")).shape
    (2, 10)
"""

from .activation import GELU, Identity, ReLU, Sigmoid, Softmax, Tanh
from .container import ModuleDict, ModuleList, Parallel, Sequential, repeat
from .linear import Dense, Flatten, LazyLinear, Linear

__all__ = ["Linear", "LazyLinear", "Dense", "Flatten", "ReLU", "Sigmoid", "Tanh", "GELU",
           "Softmax", "Identity", "Sequential", "Parallel", "ModuleList", "ModuleDict", "repeat"]
