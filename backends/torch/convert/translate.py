"""A traced torch graph (``torch.fx``, or ATen from ``torch.export``) -> polymod's graph IR.

One ``Translator`` walks the nodes of one trace in order and keeps, for every torch
node, the value that stands for it (a ``Ref`` to an emitted step, or a Python value
known while converting, such as a static size). Leaf layers become ``layer`` steps:
fx records them as ``call_module`` nodes; in an ATen graph the run of nodes that one
call of a layer produced (``nn_module_stack`` metadata) is collapsed back into one call.
Every operation that does not convert is collected, so the error lists them all.
"""

from __future__ import annotations

import keyword
import os
from typing import Any

import numpy as np
import torch
from torch import fx

from polymod import ops as pm_ops
from polymod.convert.graph import Graph, Node, Ref

from . import aten_graph, functions, layers
from .layers import NotConvertible

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_RESERVED = {"self", "ops", "helpers", "nn", "pm", "np", "Scope", "float", "slice", "setattr"}
_FUNCTIONS: dict | None = None


def _function_table() -> dict:
    global _FUNCTIONS
    if _FUNCTIONS is None:
        _FUNCTIONS = functions.function_table()
    return _FUNCTIONS


def origin(node: fx.Node) -> str:
    """``torch.relu at model.py:12 `x = torch.relu(x)```: the node's target and source line."""
    target = node.target
    if node.op == "call_module":
        what = f"layer {target!r}"
    elif node.op == "call_method":
        what = f"method .{target}()"
    elif isinstance(target, str):
        what = target
    else:
        module = getattr(target, "__module__", None) or ""
        name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
        what = str(target) if name is None or "aten" in str(target) else (
            f"{module}.{name}" if module and module != "_operator" else f"operator.{name}")
    trace = node.meta.get("stack_trace") or ""
    lines = [line.strip() for line in trace.strip().splitlines()]
    where = ""
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith("File ") and _TORCH_DIR not in lines[index]:
            where = lines[index].replace("File ", "", 1)
            code = lines[index + 1] if index + 1 < len(lines) else ""
            if code and not code.startswith("File "):
                where += f": {code}"
            break
    return f"{what} at {where}" if where else what


def dtype_name(dtype: Any) -> str:
    """``torch.float32`` -> ``'float32'``."""
    return str(dtype).replace("torch.", "")


class Translator:
    """Turns one trace into a ``Graph``; the converters call its ``op``, ``operator`` ..."""

    def __init__(self, root: torch.nn.Module, graph: fx.Graph, *, exported: Any = None,
                 supplied: frozenset[str] = frozenset()):
        self.root = root
        self.supplied = supplied  # paths of submodules replaced by from_torch(leaves=...)
        self.graph = graph
        self.exported = exported  # the ExportedProgram, for an ATen graph
        self.steps: list[Node] = []
        self.env: dict[str, Any] = {}
        self.meta: dict[str, tuple] = {}  # ref name -> (shape, torch dtype) of a tensor
        self.problems: list[str] = []
        self.layer_paths: dict[str, Any] = {}  # dotted path -> torch module called as layer
        self.tensor_reads: dict[str, Any] = {}  # dotted path -> torch tensor read directly
        self.inputs: list[tuple[str, Any]] = []
        self._names: set[str] = set(_RESERVED)
        self._current: fx.Node | None = None
        self._first_input: Ref | None = None
        self._modules = dict(root.named_modules())
        self._folds: dict[fx.Node, tuple] = {}
        self._shapes: dict[str, Ref] = {}  # tensor name -> its emitted ops.shape(...)
        self._sequences: set[str] = set()  # names that hold a shape tuple

    # -- what converters call -------------------------------------------------------------
    def op(self, name: str, *args: Any, **kwargs: Any) -> Ref:
        if not hasattr(pm_ops, name):
            raise NotConvertible(f"polymod.ops has no {name}() yet")
        ref = self._emit("call", f"ops.{name}", args, kwargs)
        if name == "shape":
            self._sequences.add(ref.name)
        return ref

    def operator(self, symbol: str, *args: Any) -> Any:
        if not any(isinstance(a, Ref) for a in args):  # Python numbers: fold now
            return _fold(symbol, args)
        return self._emit("operator", symbol, args, {})

    def getitem(self, x: Any, index: Any) -> Any:
        if not isinstance(x, Ref):
            if isinstance(index, Ref):
                raise NotConvertible("indexing a Python sequence with a value only known "
                                     "when the model runs")
            return x[index]
        ref = self._emit("getitem", "", (x, index), {})
        if x.name in self._sequences and isinstance(index, slice):
            self._sequences.add(ref.name)
        return ref

    def is_sequence(self, x: Any) -> bool:
        """Whether ``x`` stands for a tuple of sizes (``x.shape``, ``x.shape[1:]``)."""
        return isinstance(x, Ref) and x.name in self._sequences

    def rank(self, x: Any) -> int:
        return len(self.shape(x))

    def shape(self, x: Any) -> tuple:
        found = self.meta.get(getattr(x, "name", None))
        if found is None:
            raise NotConvertible("an operation that needs the input's shape (give example "
                                 "inputs to from_torch)")
        return found[0]

    def size(self, x: Any, dim: int) -> Any:
        shape = self._shapes.get(x.name) if isinstance(x, Ref) else None
        if shape is None:  # one ops.shape(x) per tensor, however many sizes are read
            shape = self.op("shape", x)
            if isinstance(x, Ref):
                self._shapes[x.name] = shape
        return self.getitem(shape, dim)

    def dtype(self, x: Any) -> Any:
        if isinstance(x, torch.dtype):
            return x
        found = self.meta.get(getattr(x, "name", None))
        return None if found is None else found[1]

    def dtype_name(self, dtype: Any) -> str:
        return dtype_name(dtype)

    def is_tensor(self, x: Any) -> bool:
        return isinstance(x, Ref) and x.name in self.meta

    def is_value(self, x: Any) -> bool:
        return isinstance(x, Ref)

    def any_input(self) -> Ref:
        if self._first_input is None:
            raise NotConvertible("creating a tensor in a model that has no tensor input")
        return self._first_input

    # -- emitting -------------------------------------------------------------------------
    def _name(self, base: str) -> str:
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in base) or "v"
        if base[0].isdigit() or keyword.iskeyword(base):
            base = f"v_{base}"
        name, n = base, 1
        while name in self._names:
            name, n = f"{base}_{n}", n + 1
        self._names.add(name)
        return name

    def _emit(self, kind: str, target: str, args: tuple, kwargs: dict) -> Ref:
        base = self._current.name if self._current is not None else "v"
        node = Node(self._name(base), kind, target, tuple(args), dict(kwargs),
                    origin(self._current) if self._current is not None else "")
        self.steps.append(node)
        return Ref(node.name)

    # -- walking --------------------------------------------------------------------------
    def run(self) -> Graph:
        groups = aten_graph.layer_groups(self) if self.exported is not None else {}
        self._folds = aten_graph.folded_linears(self.graph, set(groups))
        output = None
        for node in self.graph.nodes:
            self._current = node
            try:
                if node.op == "output":
                    output = self._output(node)
                    continue
                value = self._translate(node, groups)
            except NotConvertible as err:
                self.problems.append(f"{origin(node)}: {err}")
                value = Ref(self._name(node.name))
            if isinstance(value, Ref) and value.name not in self.meta:
                self._record_meta(node, value)
            self.env[node.name] = value
        self._current = None
        return Graph(self.inputs, self.steps, output)

    def _record_meta(self, node: fx.Node, value: Ref) -> None:
        example = node.meta.get("val", None)
        tensor_meta = node.meta.get("tensor_meta", None)
        if isinstance(example, torch.Tensor):
            shape = tuple(s if isinstance(s, int) else None for s in example.shape)
            self.meta[value.name] = (shape, example.dtype)
        elif tensor_meta is not None and hasattr(tensor_meta, "shape"):
            self.meta[value.name] = (tuple(tensor_meta.shape), tensor_meta.dtype)

    def _args(self, value: Any) -> Any:
        if isinstance(value, fx.Node):
            return self.env[value.name]
        if isinstance(value, (list, tuple)):
            mapped = [self._args(v) for v in value]
            return type(value)(mapped) if isinstance(value, tuple) else mapped
        if isinstance(value, dict):
            return {k: self._args(v) for k, v in value.items()}
        if isinstance(value, slice):
            return slice(self._args(value.start), self._args(value.stop),
                         self._args(value.step))
        if isinstance(value, torch.Size):
            return tuple(value)
        return value

    def _translate(self, node: fx.Node, groups: dict) -> Any:
        if node.op == "placeholder":
            return self._placeholder(node)
        if node.op == "get_attr":
            return self._tensor(node.target)
        args, kwargs = self._args(node.args), self._args(node.kwargs)
        if node.op == "call_module":
            return self._layer(node.target, args, kwargs)
        if node in groups:
            return self._grouped(node, groups[node])
        if node in self._folds:
            return self._folded(node, *self._folds[node], args)
        if node.op == "call_method":
            convert = functions.SHARED.get(node.target)
            if convert is None:
                raise NotConvertible("no polymod equivalent yet")
            return convert(self, *args, **kwargs)
        target = node.target
        if isinstance(target, torch._ops.OpOverload):
            name = target.overloadpacket.__name__
            convert = functions.ATEN.get(name) or functions.SHARED.get(name)
        else:
            convert = _function_table().get(target)
        if convert is None:
            raise NotConvertible("no polymod equivalent yet")
        try:
            return convert(self, *args, **kwargs)
        except TypeError as err:
            raise NotConvertible(f"arguments polymod cannot map ({err})") from None

    def _folded(self, node: fx.Node, kind: str, other: fx.Node, args: tuple) -> Any:
        """A step of a flattened matrix product (``aten_graph.folded_linears``)."""
        if kind == "skip":  # the flattening view: the product reads the input itself
            return None
        if kind == "same":  # the view back: the product already has this shape
            ref = self.env[other.name]
            self._record_meta(node, ref)
            return ref
        bias, weight = (args[0], args[2]) if len(args) == 3 else (None, args[1])
        out = self.op("matmul", self.env[other.name], weight)
        return out if bias is None else self.operator("+", bias, out)

    def _placeholder(self, node: fx.Node) -> Any:
        if self.exported is not None:
            spec = self.exported.graph_signature
            target = aten_graph.lifted(spec, node.name)
            if target is not None:
                return self._tensor(target)
        name = self._name(node.target.lstrip("*"))
        default = node.args[0] if node.args else Graph.REQUIRED
        self.inputs.append((name, default))
        ref = Ref(name)
        self._record_meta(node, ref)
        if self._first_input is None and name in self.meta:
            self._first_input = ref
        return ref

    def _tensor(self, path: str) -> Any:
        value = _resolve(self.root, path)
        if isinstance(value, torch.Tensor):
            self.tensor_reads[path] = value
            ref = self._emit("attr", path, (), {})
            self.meta[ref.name] = (tuple(value.shape), value.dtype)
            return ref
        if isinstance(value, (int, float, bool)):
            return value
        raise NotConvertible(f"reading attribute {path!r} of type {type(value).__name__}")

    def _layer(self, path: str, args: tuple, kwargs: dict) -> Ref:
        module = self._modules[path]
        if path in self.supplied:
            self.layer_paths[path] = module
            return self._emit("layer", path, args, kwargs)
        try:
            layers.layer_spec(module)
        except NotConvertible as err:
            raise NotConvertible(f"torch.nn.{type(module).__name__} layer: {err}") from None
        self.layer_paths[path] = module
        return self._emit("layer", path, args, kwargs)

    def _grouped(self, node: fx.Node, group: Any) -> Any:
        if node is not group.output:
            return None  # folded into the layer call
        return self._layer(group.path, (self.env[group.input.name],), {})

    def _output(self, node: fx.Node) -> Any:
        value = node.args[0]
        if self.exported is None:
            return self._args(value)
        spec = self.exported.graph_signature
        user = [o.arg.name for o in spec.output_specs if o.kind.name == "USER_OUTPUT"]
        by_name = {n.name: n for n in value}
        leaves = [self.env[by_name[name].name] if name in by_name else None for name in user]
        return aten_graph.unflatten(leaves, self.exported.call_spec.out_spec)


def _fold(symbol: str, args: tuple) -> Any:
    import operator as op

    table = {"+": op.add, "-": op.sub, "*": op.mul, "/": op.truediv, "//": op.floordiv,
             "%": op.mod, "**": op.pow, "<": op.lt, "<=": op.le, ">": op.gt, ">=": op.ge,
             "==": op.eq, "!=": op.ne, "&": op.and_, "|": op.or_, "^": op.xor, "neg": op.neg,
             "invert": op.invert}
    return table[symbol](*args)


def _resolve(root: torch.nn.Module, path: str) -> Any:
    value: Any = root
    for part in path.split("."):
        value = getattr(value, part)
    return value


def array(tensor: torch.Tensor) -> np.ndarray:
    """A NumPy copy of a torch tensor."""
    return tensor.detach().cpu().numpy().copy()
