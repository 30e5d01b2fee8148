"""Bringing models of other frameworks in: ``pm.from_torch``.

Besides ``registry.py``, the one core file that names a framework: it finds the
converter in that framework's adapter package through the backend's spec, so the core
imports no framework.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from . import registry


def torch_converter() -> Any:
    """The converting adapter's ``converter`` package (the registry names it; imports its
    framework)."""
    source = next(spec for spec in registry.SPECS if spec.converter)
    registry.adapter(source.name)  # a clear error naming the pip extra when it is missing
    return importlib.import_module(f"{source.adapter_module}.{source.converter}")


def from_torch(module: Any, *example_inputs: Any, tracer: Any = None,
               leaves: Mapping[Any, Any] | None = None) -> Any:
    """A polymod model that computes what the PyTorch ``module`` computes, on every backend.

    The module is traced with ``torch.fx`` (symbolic tracing) where that works, else with
    ``torch.export`` (an ATen graph, every input dimension left dynamic where torch can).
    Each ``torch.nn`` leaf layer becomes the ``polymod.nn`` layer of the same kind with
    its weights; every function, tensor method, operator and ATen op becomes
    ``polymod.ops`` calls. ``state_dict(include_constants=False)`` has the torch
    module's keys; torch's non-persistent buffers and plain tensor attributes become
    polymod constants. ``train()``/``eval()`` behave as the original's: the module is
    traced in both modes, and where the traces differ the model keeps both.

    Args:
        module: a ``torch.nn.Module``.
        *example_inputs: inputs to trace with (torch tensors), needed for shapes and
            for ``torch.export``.
        tracer: None (fx, else export), ``'fx'``, ``'export'``, or a callable
            ``tracer(module, *example_inputs)`` returning a ``torch.fx.GraphModule`` or a
            ``torch.export.ExportedProgram``.
        leaves: polymod modules for submodules that cannot be traced (a ``while`` on a
            tensor, a call into another library): ``{key: replacement}``, where ``key``
            is a ``torch.nn.Module`` subclass (every instance of it; the outermost where
            they nest) or a dotted submodule path (``"encoder.2"``), and
            ``replacement`` is a ``pm.Module`` or a callable ``f(torch_submodule)``
            returning one. The trace stops at those submodules (torch.fx only:
            torch.export cannot keep a submodule as one call) and the converted model
            calls the replacement there. Its parameter and buffer names must be the
            torch submodule's ``state_dict`` keys: the torch weights are loaded into it
            (plain tensor attributes and non-persistent buffers into its constants of
            the same name). If the key matches the model itself, the replacement, with
            the weights, is returned.

    Returns:
        A ``polymod.convert.ConvertedModule`` (a ``pm.Module``), unbound, in the
        original's train/eval mode; ``.source`` is its generated forward.

    Raises:
        UnsupportedError: tracing failed (both tracers' messages and what to do), or
            layers or operations have no polymod counterpart (all listed at once, with
            their torch targets and source lines).
        WeightsFileError: a ``leaves`` replacement whose names differ from the torch
            submodule's ``state_dict`` keys.

    Example:
        >>> import torch, polymod as pm
        >>> torch_net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
        >>> net = pm.from_torch(torch_net, torch.zeros(2, 4))
        >>> list(net.state_dict()) == list(torch_net.state_dict())
        True
        >>> net(pm.ones(2, 4, backend="numpy")).shape
        (2, 3)
    """
    from .convert import build  # imported on first use: `import polymod` stays light

    spec = torch_converter().convert(module, *example_inputs, tracer=tracer, leaves=leaves)
    net = build(spec)
    net.train(bool(module.training))
    return net


def torch_source(module: Any, *example_inputs: Any, tracer: Any = None,
                 leaves: Mapping[Any, Any] | None = None) -> str:
    """The Python source of ``from_torch(module, ...)`` as one ``pm.Module`` class that
    imports only polymod (what ``polymod convert`` writes). Modules given in ``leaves``
    become arguments of its constructor (``leaf_<path>``)."""
    from .convert import module_source

    return module_source(torch_converter().convert(module, *example_inputs, tracer=tracer,
                                                   leaves=leaves))


def add_cli(compare_parser: Any, subcommands: Any, **cli: Any) -> None:
    """The command line's ``--from-torch`` flag of ``compare`` and the ``convert`` command
    (``cli``: what ``polymod/cli.py`` lends, see ``polymod.convert.cli``)."""
    from .convert import cli as convert_cli

    compare_parser.add_argument(
        "--from-torch", dest="original", metavar="MODULE:FACTORY",
        help="convert this PyTorch model and compare every backend with it (the reference)")
    convert_cli.add_convert_parser(subcommands, converter=torch_converter,
                                   original_label="torch (original)",
                                   help="write a PyTorch model as polymod source", **cli)


__all__ = ["from_torch", "torch_source", "add_cli"]
