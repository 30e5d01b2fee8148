"""Tracing a torch module: ``torch.fx`` symbolic tracing where it works, else
``torch.export`` (an ATen graph), or a tracer the caller passes in.

Tracing happens once per mode (eval and train), with the module put in that mode and
restored afterwards: what a forward reads from ``self.training`` is fixed in a trace.
Shapes come from running the fx graph on the example inputs (``ShapeProp``), with the
module's buffers and torch's RNG state saved and restored around it, so converting a
model in training mode does not move its BatchNorm statistics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import fx
from torch.fx.passes.shape_prop import ShapeProp


class TraceFailed(Exception):
    """Neither tracer could capture the module; ``reasons`` holds each one's message."""

    def __init__(self, reasons: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in reasons.items()))
        self.reasons = reasons


@contextlib.contextmanager
def mode(module: torch.nn.Module, training: bool) -> Iterator[None]:
    """The module in ``training`` mode, its flags, buffers and torch's RNG restored after."""
    flags = {m: m.training for m in module.modules()}
    buffers = [(b, b.detach().clone()) for b in module.buffers()]
    module.train(training)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        for m, flag in flags.items():
            m.training = flag
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)


class _Tracer(fx.Tracer):
    """fx's tracer, also stopping at the submodules ``from_torch(leaves=...)`` replaces."""

    def __init__(self, leaf_paths: frozenset[str]):
        super().__init__()
        self.leaf_paths = leaf_paths
        self.record_stack_traces = True

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return (module_qualified_name in self.leaf_paths
                or super().is_leaf_module(m, module_qualified_name))


def fx_trace(module: torch.nn.Module, inputs: tuple,
             leaf_paths: frozenset[str] = frozenset()) -> fx.GraphModule:
    """``torch.fx`` symbolic trace with source lines, and shapes from the example inputs;
    the submodules at ``leaf_paths`` stay calls."""
    tracer = _Tracer(leaf_paths)
    graph = tracer.trace(module)
    gm = fx.GraphModule(tracer.root, graph, type(module).__name__)
    if inputs:
        with torch.no_grad():
            ShapeProp(gm).propagate(*inputs)
    return gm


def export_trace(module: torch.nn.Module, inputs: tuple, kwargs: dict | None = None) -> Any:
    """``torch.export`` with every dimension of every tensor input left dynamic where
    torch can (``Dim.AUTO``), so the graph does not keep the example's sizes."""
    from torch.export import Dim

    def dynamic(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return {i: Dim.AUTO for i in range(value.dim())}
        return None

    shapes = tuple(dynamic(x) for x in inputs)
    kw_shapes = {k: dynamic(v) for k, v in (kwargs or {}).items()}
    try:
        return torch.export.export(module, inputs, kwargs, dynamic_shapes=(
            shapes + tuple(kw_shapes.values())) if not kw_shapes else None)
    except Exception:  # some models only export with static shapes
        return torch.export.export(module, inputs, kwargs)


def trace(module: torch.nn.Module, inputs: tuple, tracer: Any,
          leaf_paths: frozenset[str] = frozenset()) -> tuple[str, Any]:
    """``('fx', GraphModule)`` or ``('export', ExportedProgram)``.

    ``tracer`` is None (fx, else export), ``'fx'``, ``'export'``, or a callable
    ``tracer(module, *inputs)`` returning a ``torch.fx.GraphModule`` or an
    ``ExportedProgram``. With ``leaf_paths`` (``from_torch(leaves=...)``) only torch.fx
    is used: torch.export has no way to keep a submodule as one call.
    """
    if leaf_paths:
        return _trace_with_leaves(module, inputs, tracer, leaf_paths)
    if callable(tracer):
        result = tracer(module, *inputs)
        if isinstance(result, torch.export.ExportedProgram):
            return "export", result
        if isinstance(result, fx.GraphModule):
            if inputs and not any("tensor_meta" in n.meta for n in result.graph.nodes):
                with torch.no_grad():
                    ShapeProp(result).propagate(*inputs)
            return "fx", result
        raise TypeError(f"tracer must return a torch.fx.GraphModule or a "
                        f"torch.export.ExportedProgram; it returned "
                        f"{type(result).__qualname__}.")
    reasons: dict[str, str] = {}
    order: list[tuple[str, Callable]] = []
    if tracer in (None, "fx"):
        order.append(("fx", fx_trace))
    if tracer in (None, "export"):
        if not inputs:
            reasons["torch.export"] = "needs example inputs"
        else:
            order.append(("export", export_trace))
    if not order and not reasons:
        raise ValueError(f"tracer must be None, 'fx', 'export' or a callable; received "
                         f"{tracer!r}.")
    for name, run in order:
        try:
            return name, run(module, inputs)
        except Exception as err:  # the next tracer may work; all messages are reported
            reasons["torch.fx" if name == "fx" else "torch.export"] = _first_line(err)
    raise TraceFailed(reasons)


def _trace_with_leaves(module: torch.nn.Module, inputs: tuple, tracer: Any,
                       leaf_paths: frozenset[str]) -> tuple[str, Any]:
    if tracer not in (None, "fx"):
        raise TraceFailed({"leaves=": (
            f"works with torch.fx's tracer only (tracer=None or 'fx'); received tracer="
            f"{tracer if isinstance(tracer, str) else type(tracer).__qualname__!s}: "
            f"torch.export cannot keep a submodule as one call")})
    try:
        return "fx", fx_trace(module, inputs, leaf_paths)
    except Exception as err:
        raise TraceFailed({"torch.fx": _first_line(err), "torch.export": (
            "not tried: with leaves= only torch.fx can keep the replaced submodules as "
            "calls")}) from None


def _first_line(err: Exception) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), text)
    return first if len(first) <= 300 else first[:297] + "..."
