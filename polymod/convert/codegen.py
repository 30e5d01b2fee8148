"""Python source from a ``ModelSpec``: the forward methods (compiled for a converted model
at run time) and a whole file with one ``pm.Module`` class (``polymod convert``).

The forward is straight-line code: one statement per node, layers called as
``self.layer1[0].conv1(x)``, functions as ``ops.relu(x)``, Python operators on the
native tensors. It is what a person would write, so it is as fast as hand-written
polymod code.
"""

from __future__ import annotations

import keyword
import math
from typing import Any

import numpy as np

from . import memo
from .graph import Graph, Layer, ModelSpec, Node, Ref, Supplied, Tensor, prune

_BINARY = {"+", "-", "*", "/", "//", "%", "**", "@", "<", "<=", ">", ">=", "==", "!=", "&",
           "|", "^"}
_UNARY = {"neg": "-", "pos": "+", "invert": "~"}


def path_expr(path: str, root: str = "self") -> str:
    """``'layer1.0.conv1'`` -> ``'self.layer1[0].conv1'``."""
    text = root
    for part in path.split(".") if path else []:
        if part.isidentifier() and not keyword.iskeyword(part):
            text += f".{part}"
        elif part.isdigit():
            text += f"[{part}]"
        else:
            text += f"[{part!r}]"
    return text


def literal(value: Any) -> str:
    """Python source for an argument value."""
    if isinstance(value, Ref):
        return value.name
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(value)
    if isinstance(value, (int, str)):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, slice):
        return f"slice({literal(value.start)}, {literal(value.stop)}, {literal(value.step)})"
    if value is Ellipsis:
        return "..."
    if isinstance(value, np.generic):
        return literal(value.item())
    raise TypeError(f"Cannot write {type(value).__qualname__} {value!r} as source.")


def _index(value: Any) -> str:
    """An index inside ``[]``: slices as ``a:b``."""
    if isinstance(value, tuple):
        return ", ".join(_index(v) for v in value) if value else "()"
    if isinstance(value, slice):
        parts = ["" if v is None else literal(v) for v in (value.start, value.stop, value.step)]
        text = f"{parts[0]}:{parts[1]}"
        return text + (f":{parts[2]}" if parts[2] else "")
    if value is None:
        return "None"
    return literal(value)


def _call_args(node: Node) -> str:
    parts = [literal(a) for a in node.args]
    parts += [f"{k}={literal(v)}" for k, v in node.kwargs.items()]
    return ", ".join(parts)


def statement(node: Node) -> str:
    """The line of code of one node."""
    kind = node.kind
    if kind == "layer":
        rhs = f"{path_expr(node.target)}({_call_args(node)})"
    elif kind == "attr":
        rhs = path_expr(node.target)
    elif kind == "call":
        rhs = f"{node.target}({_call_args(node)})"
    elif kind == "operator" and node.target in _BINARY:
        a, b = node.args
        rhs = f"{literal(a)} {node.target} {literal(b)}"
    elif kind == "operator" and node.target in _UNARY:
        rhs = f"{_UNARY[node.target]}{literal(node.args[0])}"
    elif kind == "getitem":
        rhs = f"{literal(node.args[0])}[{_index(node.args[1])}]"
    else:
        raise ValueError(f"Unknown node kind {kind!r} with target {node.target!r}.")
    return f"{node.name} = {rhs}"


def _signature(graph: Graph, method: bool = True) -> str:
    parts = ["self"] if method else []
    for name, default in graph.inputs:
        parts.append(name if default == Graph.REQUIRED else f"{name}={literal(default)}")
    return ", ".join(parts)


def forward_source(graph: Graph, name: str = "forward", indent: str = "",
                   method: bool = True) -> str:
    """A ``def name(self, ...)`` whose body runs ``graph`` (no ``self`` unless
    ``method``)."""
    graph = prune(graph)
    body = [statement(node) for node in graph.nodes]
    body.append(f"return {literal(graph.output)}")
    lines = [f"{indent}def {name}({_signature(graph, method)}):"]
    lines += [f"{indent}    {line}" for line in body]
    return "\n".join(lines) + "\n"


def _program(spec: ModelSpec) -> tuple[dict[str, Graph], list[tuple[str, Graph]]]:
    """The forward graphs with their shape-only steps split out (``memo``), and those
    steps as ``(function name, graph)``."""
    graphs, functions = {}, []
    for mode, graph in spec.graphs.items():
        name = "shape_only" if len(spec.graphs) == 1 else f"shape_only_{mode}"
        graphs[mode], function = memo.split(prune(graph), name)
        if function is not None:
            functions.append((name, function))
    return graphs, functions


def support_source(spec: ModelSpec) -> str:
    """The module-level functions the forward methods call (the shape-only steps)."""
    _, functions = _program(spec)
    return "\n\n".join(forward_source(graph, name, method=False) for name, graph in functions)


def program_source(spec: ModelSpec) -> str:
    """The support functions and the forward methods, at module level (what a
    ``ConvertedModule`` compiles)."""
    support = support_source(spec)
    return (support + "\n\n" if support else "") + forward_methods(spec)


def forward_methods(spec: ModelSpec, indent: str = "") -> str:
    """``forward`` (and ``forward_train`` / ``forward_eval`` when the modes differ)."""
    graphs, _ = _program(spec)
    if "train" not in graphs:
        return forward_source(graphs["eval"], "forward", indent)
    names = ", ".join(name for name, _ in graphs["eval"].inputs)
    dispatch = (f"{indent}def forward({_signature(graphs['eval'])}):\n"
                f"{indent}    if self.training:\n"
                f"{indent}        return self.forward_train({names})\n"
                f"{indent}    return self.forward_eval({names})\n")
    return "\n".join([dispatch, forward_source(graphs["train"], "forward_train", indent),
                      forward_source(graphs["eval"], "forward_eval", indent)])


# -- the whole file ------------------------------------------------------------------------
def supplied_argument(path: str) -> str:
    """The constructor argument of the generated class that takes the module supplied
    for the original's submodule at ``path`` (``from_torch(leaves=...)``)."""
    return "leaf_" + "".join(c if c.isalnum() else "_" for c in path)


def _supplied(entry: Any) -> list[Supplied]:
    if isinstance(entry, Supplied):
        return [entry]
    children = getattr(entry, "children", None)
    if not isinstance(children, dict):
        return []
    return [found for child in children.values() for found in _supplied(child)]


def _entry_source(entry: Any, indent: str) -> str:
    if isinstance(entry, Supplied):
        return supplied_argument(entry.path)
    if isinstance(entry, Layer):
        parts = [literal(a) for a in entry.args]
        parts += [f"{k}={literal(v)}" for k, v in entry.kwargs.items()]
        return f"nn.{entry.cls}({', '.join(parts)})"
    if isinstance(entry, Tensor):
        shape = literal(tuple(entry.value.shape))
        dtype = str(entry.value.dtype)
        if entry.kind == "parameter":
            return f"pm.Parameter(shape={shape}, init='zeros', dtype={dtype!r})"
        if entry.kind == "buffer":
            return f"pm.Buffer(shape={shape}, init='zeros', dtype={dtype!r})"
        return f"pm.Constant({literal(entry.value.tolist())}, dtype={dtype!r})"
    inner = indent + "    "
    comment = f"  # {entry.kind}" if entry.kind else ""
    lines = [f"Scope({{{comment}"]
    for key, child in entry.children.items():
        lines.append(f"{inner}{key!r}: {_entry_source(child, inner)},")
    lines.append(f"{indent}}})")
    return "\n".join(lines)


def module_source(spec: ModelSpec) -> str:
    """A Python file defining ``class <spec.name>(pm.Module)`` that imports only polymod.

    Modules supplied through ``from_torch(leaves=...)`` are arguments of its constructor.

    Raises:
        ValueError: ``leaves=`` replaced the whole model: the supplied module is the model.
    """
    if isinstance(spec.root, Supplied):
        raise ValueError(f"leaves= replaced the whole {spec.name}: there is no converted "
                         f"source to write; the polymod module supplied is the model.")
    supplied = _supplied(spec.root)
    init = []
    for key, child in spec.root.children.items():
        value = _entry_source(child, "        ")
        if key.isidentifier() and not keyword.iskeyword(key):
            init.append(f"        self.{key} = {value}")
        else:
            init.append(f"        setattr(self, {key!r}, {value})")
    forward = forward_methods(spec, "    ").rstrip("\n")
    body = "\n".join(init) + "\n" + support_source(spec) + forward
    load = ("net.load_state_dict(original_state_dict, strict=False)`` (its constants, "
            "which the original keeps out of its state_dict, are written below or are "
            "the supplied modules' own)"
            if "pm.Constant(" in body or supplied
            else "net.load_state_dict(original_state_dict)``")
    paths = ", ".join(repr(e.path) for e in supplied)
    notes = [f"Built with the polymod modules supplied for {paths} (from_torch(leaves=...)): "
             f"pass them to the constructor."] if supplied else []
    lines = [f'"""{spec.name}, converted by polymod from {spec.origin}.', "",
             f"Load the original's weights with ``{load}.", *spec.notes, *notes, '"""', ""]
    lines.append("import polymod as pm")
    modules = [name for name in ("nn", "ops") if f"{name}." in body]
    if modules:
        lines.append(f"from polymod import {', '.join(modules)}")
    helpers = [name for name in ("Scope", "helpers") if f"{name}(" in body or f"{name}." in body]
    if helpers:
        lines.append(f"from polymod.convert import {', '.join(helpers)}")
    support = support_source(spec)
    if support:
        lines += ["", "", support.rstrip("\n")]
    lines += ["", "", f"class {spec.name}(pm.Module):"]
    if spec.accepts_integer_input:
        lines += ["    accepts_integer_input = True", ""]
    arguments = "".join(f", {supplied_argument(e.path)}: pm.Module" for e in supplied)
    lines += [f"    def __init__(self{arguments}):"]
    for entry in supplied:
        lines.append(f"        # {supplied_argument(entry.path)}: the polymod module for the "
                     f"original's {entry.path!r} ({entry.kind})")
    lines += ["        super().__init__()", *init, ""]
    if any(not (k.isidentifier() and not keyword.iskeyword(k)) for k in spec.root.children):
        lines += ["    def __getitem__(self, key):  # children named '0', '1', ... as self[0]",
                  "        return getattr(self, str(key))", ""]
    lines.append(forward)
    return "\n".join(lines) + "\n"
