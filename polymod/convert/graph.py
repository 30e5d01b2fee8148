"""The small graph IR that a converted model is made of, independent of any framework.

A converter (e.g. the torch adapter's ``convert`` package) describes a model as a
``ModelSpec``: a tree of ``Layer`` / ``Scope`` entries (the submodules, with their
weights, at the original's dotted paths) and one ``Graph`` per mode (``'eval'``, and
``'train'`` where training computes something else). A graph is a list of ``Node``
steps in execution order; each step names what it calls and its arguments, where a
``Ref`` stands for the result of an earlier step or an input.

Example:
    >>> from polymod.convert.graph import Graph, Node, Ref
    >>> g = Graph(inputs=[("x", Graph.REQUIRED)],
    ...           nodes=[Node("y", "call", "ops.relu", (Ref("x"),))], output=Ref("y"))
    >>> [n.name for n in g.nodes]
    ['y']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Ref:
    """The value of an input or of an earlier node, by its name."""

    name: str


@dataclass
class Node:
    """One step of a graph.

    Attributes:
        name: the variable that holds its result.
        kind: ``'layer'`` (call the submodule at dotted path ``target``), ``'attr'`` (read
            the parameter, buffer or constant at path ``target``), ``'call'`` (call the
            function ``target``: ``'ops.relu'`` or ``'helpers.<name>'``), ``'operator'``
            (a Python operator: ``target`` is ``'+'``, ``'@'``, ``'neg'`` ...) or
            ``'getitem'`` (``args[0][args[1]]``, where slices and None may appear).
        target: see ``kind``.
        args, kwargs: the arguments: ``Ref``s, numbers, strings, None, slices, and
            tuples, lists and dicts of them.
        origin: what the node came from (the original's op and source line), for
            messages.
    """

    name: str
    kind: str
    target: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    origin: str = ""


@dataclass
class Graph:
    """Inputs (name, default value or ``Graph.REQUIRED``), nodes in order, and the output:
    a ``Ref``, a constant, or a nest of tuples, lists and dicts of them."""

    REQUIRED = "<required>"

    inputs: list[tuple[str, Any]]
    nodes: list[Node]
    output: Any


@dataclass
class Tensor:
    """A weight held by the converted model: a parameter, buffer or constant."""

    kind: str  # 'parameter' | 'buffer' | 'constant'
    value: np.ndarray
    trainable: bool = True


@dataclass
class Layer:
    """A ``polymod.nn`` layer built as ``nn.<cls>(*args, **kwargs)``; its weights come
    from ``weights`` (names relative to the layer)."""

    cls: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    training: bool = True


@dataclass
class Supplied:
    """A ``pm.Module`` the user gave for a submodule of the original
    (``pm.from_torch(leaves=...)``), its weights already loaded; ``path`` is where it
    sits (the generated source takes it as a constructor argument)."""

    module: Any
    path: str
    kind: str = ""  # the original's class name, for comments


@dataclass
class Scope:
    """A submodule of the original that is no layer: a holder of children, in order
    (``Layer``, ``Scope`` or ``Tensor`` entries under their attribute names)."""

    children: dict[str, Any] = field(default_factory=dict)
    kind: str = ""  # the original's class name, for comments


@dataclass
class ModelSpec:
    """Everything needed to build (or write the source of) a converted model."""

    name: str
    root: Scope | Supplied  # Supplied: the whole model was replaced (leaves=)
    graphs: dict[str, Graph]  # 'eval' (always) and 'train' (when it differs)
    accepts_integer_input: bool = False
    origin: str = ""  # what it was converted from, for the generated file's docstring
    notes: list[str] = field(default_factory=list)


def used_names(graph: Graph) -> set[str]:
    """The node and input names the output depends on (dead nodes are left out)."""
    needed: set[str] = set()
    _refs(graph.output, needed)
    for node in reversed(graph.nodes):
        if node.name in needed:
            _refs(node.args, needed)
            _refs(node.kwargs, needed)
    return needed


def _refs(value: Any, into: set[str]) -> None:
    if isinstance(value, Ref):
        into.add(value.name)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _refs(item, into)
    elif isinstance(value, dict):
        for item in value.values():
            _refs(item, into)
    elif isinstance(value, slice):
        _refs((value.start, value.stop, value.step), into)


def prune(graph: Graph) -> Graph:
    """The graph without nodes whose results nobody uses."""
    needed = used_names(graph)
    return Graph(graph.inputs, [n for n in graph.nodes if n.name in needed], graph.output)
