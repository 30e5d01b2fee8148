"""Converting a PyTorch module into polymod's graph IR (``polymod.convert``).

``pm.from_torch`` (polymod/interop.py) finds this package through the torch backend's
spec. Here: tracing (``trace``), the tables from torch layers and operations to polymod
(``layers``, ``functions``), and walking a trace (``translate``). The result is a
framework-free ``ModelSpec`` that ``polymod.convert`` builds or writes as source.

Private torch internals used (torch is pinned at 2.13.0):

| internal | why | fallback | covered by |
|---|---|---|---|
| ``torch.nn.Module._non_persistent_buffers_set`` | a non-persistent buffer is not in torch's ``state_dict``: it becomes a polymod constant | every buffer is persistent (``getattr`` default) | ``tests/test_from_torch.py`` (BERT's ``position_ids``) |
| ``torch._ops.OpOverload`` | recognising an ATen op in an exported graph | none needed: the type of every ATen op | ``tests/test_from_torch.py`` |
| ``TreeSpec.type / .context / .children_specs`` of ``ExportedProgram.call_spec.out_spec`` | rebuilding the output nest (Hugging Face's ``ModelOutput`` becomes a dict) | none | ``tests/test_from_torch.py`` |
"""

from __future__ import annotations

from typing import Any

import torch

from polymod.convert.codegen import forward_source
from polymod.convert.graph import Layer, ModelSpec, Scope, Supplied, Tensor
from polymod.errors import UnsupportedError

from . import layers, trace
from . import leaves as leaves_
from .layers import NotConvertible
from .reference import example_inputs, gradients, is_model, run, to_arrays  # noqa: F401
from .translate import Translator, array

_WHAT_TO_DO = (
    "A trace records one run of forward as a fixed sequence of operations, so Python "
    "control flow that depends on tensor values (an `if` or `while` on a tensor, a loop "
    "count read from the data) cannot be captured: the path taken depends on the input. "
    "torch.export refuses it too (it cannot guard on a value known only at run time), and "
    "a trace specialised to the example input would be wrong for other inputs. What to "
    "do: write that module with polymod (a pm.Module whose forward uses polymod.ops; "
    "Python control flow on tensors works there, and its parameter names are the torch "
    "module's) and hand it in: pm.from_torch(model, x, leaves={TheTorchClass: lambda m: "
    "ThePolymodVersion()}) converts the rest and calls yours there, with the torch "
    "module's weights. Or make the control flow depend on shapes or Python values only, "
    "then convert again.")


def convert(module: Any, *inputs: Any, tracer: Any = None,
            leaves: leaves_.Leaves | None = None) -> ModelSpec:
    """The ``ModelSpec`` of a torch module (see ``pm.from_torch``).

    Raises:
        UnsupportedError: the module cannot be traced, or some layers or operations have
            no polymod counterpart (all of them listed, with source lines).
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module; received "
                        f"{type(module).__qualname__}.")
    inputs = tuple(inputs)
    supplied = _supplied(module, leaves)
    name = type(module).__name__
    name = name if name.isidentifier() else "Converted"
    origin = f"{type(module).__module__}.{type(module).__qualname__}"
    if "" in supplied:  # the whole model is replaced: nothing to trace
        return ModelSpec(name, supplied[""], {}, origin=origin)
    graphs, problems = {}, []
    layer_paths: dict[str, Any] = {}
    tensor_reads: dict[str, Any] = {}
    for training in (False, True):
        with trace.mode(module, training):
            try:
                kind, traced = trace.trace(module, inputs, tracer, frozenset(supplied))
            except trace.TraceFailed as err:
                raise UnsupportedError(_trace_message(module, err.reasons)) from None
            if kind == "export":
                translator = Translator(module, traced.graph_module.graph, exported=traced)
            else:
                translator = Translator(module, traced.graph, supplied=frozenset(supplied))
            graph = translator.run()
        graphs["train" if training else "eval"] = graph
        problems += [p for p in translator.problems if p not in problems]
        layer_paths.update(translator.layer_paths)
        tensor_reads.update(translator.tensor_reads)
    if problems:
        raise UnsupportedError(
            f"Cannot convert {type(module).__name__}: {len(problems)} operation"
            f"{'s have' if len(problems) > 1 else ' has'} no polymod counterpart yet:\n  - "
            + "\n  - ".join(problems), nodes=problems)
    if forward_source(graphs["train"]) == forward_source(graphs["eval"]):
        del graphs["train"]
    memo: dict[int, Any] = {id(m): entry for m, entry in (
        (_resolve(module, path), entry) for path, entry in supplied.items())}
    root = _scope(module, "", layer_paths, tensor_reads, memo)
    integer = any(isinstance(x, torch.Tensor) and not x.is_floating_point() for x in inputs)
    return ModelSpec(name, root, graphs, integer, origin=origin)


def _supplied(module: Any, leaves: Any) -> dict[str, Supplied]:
    """``{path: Supplied}`` for ``from_torch(leaves=...)``: each replacement built once,
    with the torch submodule's weights."""
    found = leaves_.resolve(module, leaves)
    entries: dict[str, Supplied] = {}
    by_id: dict[int, str] = {}
    for path, sub in found.items():
        replacement = leaves_.build(leaves, path, sub)
        if id(replacement) in by_id:
            raise ValueError(
                f"from_torch(leaves=...): the same polymod module was given for "
                f"{by_id[id(replacement)]!r} and {path!r}; give a callable that builds one "
                f"per submodule (e.g. lambda m: MyModule()).")
        by_id[id(replacement)] = path
        entries[path] = Supplied(replacement, path, type(sub).__name__)
    return entries


def _resolve(root: Any, path: str) -> Any:
    return root.get_submodule(path)


def _trace_message(module: Any, reasons: dict[str, str]) -> str:
    tried = "\n".join(f"  - {name}: {text}" for name, text in reasons.items())
    return (f"Cannot trace {type(module).__name__}:\n{tried}\n{_WHAT_TO_DO}")


def _scope(module: Any, path: str, layer_paths: dict, tensor_reads: dict, memo: dict) -> Any:
    if id(module) in memo:
        return memo[id(module)]
    entry = _layer(module, path, layer_paths)
    if entry is None:
        children: dict[str, Any] = {}
        non_persistent = getattr(module, "_non_persistent_buffers_set", set())
        for name, param in module.named_parameters(recurse=False):
            children[name] = Tensor("parameter", array(param), param.requires_grad)
        for name, buffer in module.named_buffers(recurse=False):
            kind = "constant" if name in non_persistent else "buffer"
            children[name] = Tensor(kind, array(buffer), False)
        prefix = f"{path}." if path else ""
        for full, value in tensor_reads.items():
            name = full[len(prefix):]
            if full.startswith(prefix) and "." not in name and name not in children:
                children[name] = Tensor("constant", array(value), False)
        for name, child in module.named_children():
            sub = _scope(child, f"{prefix}{name}", layer_paths, tensor_reads, memo)
            if sub is not None:
                children[name] = sub
        entry = Scope(children, type(module).__name__) if children or not path else None
    memo[id(module)] = entry
    return entry


def _layer(module: Any, path: str, layer_paths: dict) -> Layer | None:
    if not layers.is_layer(module):
        return None
    try:
        cls, args, kwargs = layers.layer_spec(module)
    except NotConvertible:
        if path in layer_paths:
            raise
        return None
    return Layer(cls, args, kwargs, layers.weights(module), module.training)
