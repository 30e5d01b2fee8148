"""The command line's conversion parts: ``polymod convert`` and ``polymod compare
--from-torch`` (``polymod/cli.py`` only wires them in).

    polymod convert torchvision.models:resnet18 --input-shape 1,3,224,224 --out resnet18.py
    polymod compare --from-torch mypkg.models:make_net --input-shape 2,3,32,32
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from .. import ops, registry
from ..autograd import value_and_grad


class _Usage(Exception):
    pass


def add_convert_parser(sub: Any, run_usage_error: type[Exception]) -> None:
    """Adds the ``convert`` subcommand to the ``polymod`` parser."""
    global _UsageError
    _UsageError = run_usage_error
    parser = sub.add_parser("convert", help="write a PyTorch model as polymod source")
    parser.add_argument("target", help="MODULE:FACTORY returning a torch.nn.Module")
    parser.add_argument("--out", required=True, help="the .py file to write")
    parser.add_argument("--input-shape", help="example input shape including the batch, "
                                              "e.g. 2,3,32,32 (float32 data)")
    parser.add_argument("--input-dtype", default="float32",
                        help="dtype of the example input (int64 for token ids)")
    parser.add_argument("--tracer", choices=("fx", "export"), default=None,
                        help="force one tracer (default: fx, else torch.export)")
    parser.set_defaults(run=run_convert)


_UsageError: type[Exception] = _Usage


def example_inputs(shape: tuple[int, ...] | None, dtype: str, seed: int = 0) -> list:
    """Example torch inputs: random floats in [0, 1), or integers in [0, 10)."""
    import torch

    if shape is None:
        return []
    rng = np.random.Generator(np.random.PCG64(seed))
    if np.dtype(dtype).kind in "iu":
        return [torch.from_numpy(rng.integers(0, 10, shape).astype(dtype))]
    return [torch.from_numpy(rng.random(shape).astype(dtype))]


def _torch_module(factory: Any, target: str) -> Any:
    import torch

    try:
        module = factory()
    except Exception as err:
        raise _UsageError(f"{target!r} failed when called with no arguments: "
                          f"{type(err).__name__}: {err}") from None
    if not isinstance(module, torch.nn.Module):
        raise _UsageError(f"{target!r} returned a {type(module).__qualname__}; expected a "
                          f"zero-argument factory returning a torch.nn.Module.")
    return module


def run_convert(args: argparse.Namespace) -> int:
    """``polymod convert``: writes the converted model's source to ``--out``."""
    from ..cli import _load_factory, _parse_shape
    from ..interop import torch_converter
    from . import module_source

    module = _torch_module(_load_factory(args.target), args.target)
    shape = _parse_shape(args.input_shape) if args.input_shape else None
    inputs = example_inputs(shape, args.input_dtype)
    start = time.perf_counter()
    spec = torch_converter().convert(module.eval(), *inputs, tracer=args.tracer)
    source = module_source(spec)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(source)
    print(f"wrote {args.out}: class {spec.name}, "
          f"{sum(1 for line in source.splitlines() if line.strip())} lines, converted in "
          f"{time.perf_counter() - start:.2f} s", file=sys.stderr)
    return 0


def compare_from_torch(args: argparse.Namespace, backends: list[str]) -> int:
    """``polymod compare --from-torch``: the torch original is the reference; every backend
    runs the converted model on the same input (eval mode) and is compared with it."""
    from ..cli import _load_factory, _parse_shape, _table
    from ..compare import Record, _close, _diff
    from ..interop import from_torch

    target = args.from_torch
    module = _torch_module(_load_factory(target), target).eval()
    shape = _parse_shape(args.input_shape or "2,20")
    inputs = example_inputs(shape, getattr(args, "input_dtype", "float32"), args.seed)
    records: list[Record] = []
    try:
        net = from_torch(module, *inputs).eval()
    except Exception as err:  # an unsupported model is a failing row, not a traceback
        records.append(Record(model=target, backend="torch (original)", ok=False,
                              error=f"{type(err).__name__}: {err}"))
        return _report(args, records, _table)
    expected, torch_grads = _torch_reference(module, inputs)
    records.append(Record(model=target, backend="torch (original)",
                          output_shape=list(expected.shape)))
    for backend in ["numpy", *backends]:
        record = Record(model=target, backend=backend)
        try:
            adapter = registry.adapter(backend)
            model = net.unbound_copy().to(backend).eval()
            xs = [adapter.from_numpy(x.numpy()) for x in inputs]
            out = adapter.to_numpy(model(*xs))
            record.output_shape = list(out.shape)
            record.max_abs_diff, record.max_rel_diff = _diff(out, expected)
            record.ok = _close(out, expected, args.rtol, args.atol)
            if backend != "numpy" and not args.no_grads:
                weight = adapter.from_numpy(_weights(expected.shape))
                _, grads = value_and_grad(_weighted_sum)(model, weight, *xs)
                worst = 0.0
                for name, want in torch_grads.items():
                    got = adapter.to_numpy(grads[name])
                    worst = max(worst, _diff(got, want)[0])
                    record.ok = record.ok and _close(got, want, args.rtol * 10, args.atol * 10)
                record.grad_max_abs_diff = worst
        except Exception as err:
            record.ok = False
            record.error = f"{type(err).__name__}: {err}"
        records.append(record)
    return _report(args, records, _table)


def _weighted_sum(model: Any, weight: Any, *xs: Any) -> Any:
    return ops.sum(model(*xs) * weight)


def _weights(shape: tuple) -> np.ndarray:
    return np.random.Generator(np.random.PCG64(1)).standard_normal(shape).astype(np.float32)


def _torch_reference(module: Any, inputs: list) -> tuple[np.ndarray, dict]:
    import torch

    out = module(*inputs)
    loss = (out * torch.from_numpy(_weights(tuple(out.shape)))).sum()
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [p for _, p in params], allow_unused=True)
    return (out.detach().numpy(),
            {n: g.numpy() for (n, _), g in zip(params, grads, strict=True) if g is not None})


def _report(args: argparse.Namespace, records: list, table: Any) -> int:
    if args.json:
        print(json.dumps([r.public() for r in records], indent=2))
    else:
        print(table(records))
        bad = sum(not r.ok for r in records)
        print(f"\n{len(records) - bad} agree, {bad} disagree or fail (reference: the torch "
              f"original; rtol={args.rtol:g}, atol={args.atol:g})")
    return 0 if all(r.ok for r in records) else 1
