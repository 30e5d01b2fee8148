"""Building a converted model: ``Scope`` holders, and ``ConvertedModule``, whose forward
is the generated straight-line code of its graphs, compiled once per instance.
"""

from __future__ import annotations

import linecache
from typing import Any

from .. import nn as _nn
from .. import ops
from ..handles import Buffer, Constant, Parameter
from ..module import Module
from . import codegen, helpers
from .graph import Layer, ModelSpec, Supplied, Tensor


class Scope(Module):
    """A holder of converted layers and weights at the original's dotted path (a
    submodule of the original that is no layer of its own); it has no forward.

    Children are given as a dict, so names like ``"0"`` work; ``scope[0]`` and
    ``scope["0"]`` read a child by name, like ``getattr``.

    Example:
        >>> import polymod as pm
        >>> from polymod.convert import Scope
        >>> s = Scope({"0": pm.nn.Linear(2, 3), "scale": pm.Parameter([1.0])})
        >>> [name for name, _ in s.named_parameters()]  # own weights first, as in torch
        ['scale', '0.weight', '0.bias']
        >>> type(s[0]).__name__
        'Linear'
    """

    def __init__(self, children: dict[str, Any] | None = None):
        super().__init__()
        for name, value in (children or {}).items():
            setattr(self, name, value)

    def __getitem__(self, key: int | str) -> Any:
        return getattr(self, str(key))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "A Scope only holds the layers and weights of a converted model's submodule; "
            "the converted model's forward calls them.")


def _compile(source: str, filename: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"ops": ops, "helpers": helpers, "nn": _nn}
    # Registered with linecache so tracebacks show the generated line.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 -- our own generated code
    return namespace


class ConvertedModule(Scope):
    """A model converted from another framework (``pm.from_torch``): its layers and
    weights at the original's paths, and a forward of generated straight-line code.

    ``source`` is that forward's Python source; ``pm.from_torch`` documents the rest.
    """

    def __init__(self, children: dict[str, Any], source: str, name: str = "Converted",
                 accepts_integer_input: bool = False):
        super().__init__(children)
        self.source = source
        self.converted_name = name
        self.accepts_integer_input = accepts_integer_input
        self._compile_forward()

    def _compile_forward(self) -> None:
        filename = f"<polymod converted {self.converted_name} {id(self):x}>"
        namespace = _compile(self.source, filename)
        # Kept as plain functions: forward passes `self`; pickling drops and rebuilds them.
        self.__dict__["_compiled"] = namespace["forward"]
        self.__dict__["_compiled_methods"] = {k: v for k, v in namespace.items()
                                              if k.startswith("forward_")}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiled(self, *args, **kwargs)

    def forward_train(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiled_methods["forward_train"](self, *args, **kwargs)

    def forward_eval(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiled_methods["forward_eval"](self, *args, **kwargs)

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        state.pop("_compiled", None)
        state.pop("_compiled_methods", None)
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._compile_forward()

    def extra_repr(self) -> str:
        return f"converted: {self.converted_name}"


def _build_entry(entry: Any) -> Any:
    if isinstance(entry, Supplied):
        return entry.module
    if isinstance(entry, Layer):
        layer = getattr(_nn, entry.cls)(*entry.args, **entry.kwargs)
        if entry.weights:
            layer.load_state_dict(entry.weights, strict=True)
        layer.train(entry.training)
        return layer
    if isinstance(entry, Tensor):
        if entry.kind == "parameter":
            return Parameter(entry.value.copy(), dtype=entry.value.dtype,
                             trainable=entry.trainable)
        kind = Buffer if entry.kind == "buffer" else Constant
        return kind(entry.value.copy(), dtype=entry.value.dtype)
    return Scope({key: _build_entry(child) for key, child in entry.children.items()})


def build(spec: ModelSpec) -> Module:
    """The converted model described by ``spec``, with its weights: a ``ConvertedModule``,
    or the user's own module where ``leaves=`` replaced the whole model."""
    if isinstance(spec.root, Supplied):
        return spec.root.module
    children = {key: _build_entry(child) for key, child in spec.root.children.items()}
    return ConvertedModule(children, codegen.program_source(spec), spec.name,
                           spec.accepts_integer_input)


__all__ = ["Scope", "ConvertedModule", "build"]
