"""Models converted from another framework: a small graph IR, building a ``pm.Module``
that runs it, and writing that module as readable polymod source.

The framework-specific part (tracing, tables of layers and ops) lives in the
framework's adapter package (``polymod.backends.torch.convert``); ``pm.from_torch``
(``polymod.interop``) joins the two.
"""

from . import helpers
from .codegen import module_source
from .graph import Graph, Layer, ModelSpec, Node, Ref, Supplied, Tensor
from .model import ConvertedModule, Scope, build

__all__ = ["Scope", "ConvertedModule", "build", "module_source", "helpers", "Graph", "Node",
           "Ref", "Layer", "Tensor", "Supplied", "ModelSpec"]
