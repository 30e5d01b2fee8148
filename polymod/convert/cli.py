"""The command line's conversion parts: ``polymod convert`` and ``polymod compare
--from-torch`` (``polymod/interop.py`` adds the flags, ``polymod/cli.py`` wires them in).

    polymod convert mypkg.models:make_net --input-shape 1,3,224,224 --out net_polymod.py
    polymod compare --from-torch mypkg.models:make_net --input-shape 2,3,32,32

What touches the original's framework (building inputs, running it, its gradients) is
the converter's (``interop.torch_converter()``): this file names no framework.
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


#: What ``polymod/cli.py`` lends (its usage error, factory loader, shape parser, table) and
#: what ``interop`` gives (the converter, the reference's label), set by
#: ``add_convert_parser``: passed in, so the files import one way.
_CLI: dict[str, Any] = {"UsageError": _Usage}


def add_convert_parser(sub: Any, help: str, **cli: Any) -> None:
    """Adds the ``convert`` subcommand to the ``polymod`` parser."""
    _CLI.update(cli)
    parser = sub.add_parser("convert", help=help)
    parser.add_argument("target", help="MODULE:FACTORY returning the model to convert")
    parser.add_argument("--out", required=True, help="the .py file to write")
    parser.add_argument("--input-shape", help="example input shape including the batch, "
                                              "e.g. 2,3,32,32 (float32 data)")
    parser.add_argument("--input-dtype", default="float32",
                        help="dtype of the example input (int64 for token ids)")
    parser.add_argument("--tracer", choices=("fx", "export"), default=None,
                        help="force one tracer (default: fx, else export)")
    parser.set_defaults(run=run_convert)


def _original(target: str) -> Any:
    factory = _CLI["load_factory"](target)
    try:
        module = factory()
    except Exception as err:
        raise _CLI["UsageError"](f"{target!r} failed when called with no arguments: "
                                 f"{type(err).__name__}: {err}") from None
    if not _CLI["converter"]().is_model(module):
        raise _CLI["UsageError"](f"{target!r} returned a {type(module).__qualname__}; "
                                 f"expected a zero-argument factory returning a model to "
                                 f"convert.")
    return module


def run_convert(args: argparse.Namespace) -> int:
    """``polymod convert``: writes the converted model's source to ``--out``."""
    from . import module_source

    converter = _CLI["converter"]()
    module = _original(args.target)
    shape = _CLI["parse_shape"](args.input_shape) if args.input_shape else None
    inputs = converter.example_inputs(shape, args.input_dtype, 0)
    start = time.perf_counter()
    spec = converter.convert(module.eval(), *inputs, tracer=args.tracer)
    source = module_source(spec)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(source)
    print(f"wrote {args.out}: class {spec.name}, "
          f"{sum(1 for line in source.splitlines() if line.strip())} lines, converted in "
          f"{time.perf_counter() - start:.2f} s", file=sys.stderr)
    return 0


def compare_with_original(args: argparse.Namespace, backends: list[str]) -> int:
    """``polymod compare --from-torch``: the original is the reference; every backend runs
    the converted model on the same input (eval mode) and is compared with it, outputs and
    the gradients of ``sum(out * R)``."""
    from ..compare import Record, _close, _diff
    from .model import build

    converter = _CLI["converter"]()
    label = _CLI["original_label"]
    target = args.original
    module = _original(target).eval()
    shape = _CLI["parse_shape"](args.input_shape or "2,20")
    inputs = converter.example_inputs(shape, getattr(args, "input_dtype", "float32"), args.seed)
    records: list[Record] = []
    try:
        net = build(converter.convert(module, *inputs)).eval()
    except Exception as err:  # an unsupported model is a failing row, not a traceback
        records.append(Record(model=target, backend=label, ok=False,
                              error=f"{type(err).__name__}: {err}"))
        return _report(args, records, label)
    expected = converter.run(module, inputs)
    weight = _weights(expected.shape)
    reference_grads = converter.gradients(module, inputs, weight)
    records.append(Record(model=target, backend=label, output_shape=list(expected.shape)))
    arrays = converter.to_arrays(inputs)
    for backend in [registry.REFERENCE, *backends]:
        record = Record(model=target, backend=backend)
        try:
            adapter = registry.adapter(backend)
            model = net.unbound_copy().to(backend).eval()
            xs = [adapter.from_numpy(x) for x in arrays]
            out = adapter.to_numpy(model(*xs))
            record.output_shape = list(out.shape)
            record.max_abs_diff, record.max_rel_diff = _diff(out, expected)
            record.ok = _close(out, expected, args.rtol, args.atol)
            if backend != registry.REFERENCE and not args.no_grads:
                _, grads = value_and_grad(_weighted_sum)(model, adapter.from_numpy(weight), *xs)
                worst = 0.0
                for name, want in reference_grads.items():
                    got = adapter.to_numpy(grads[name])
                    worst = max(worst, _diff(got, want)[0])
                    record.ok = record.ok and _close(got, want, args.rtol * 10, args.atol * 10)
                record.grad_max_abs_diff = worst
        except Exception as err:
            record.ok = False
            record.error = f"{type(err).__name__}: {err}"
        records.append(record)
    return _report(args, records, label)


def _weighted_sum(model: Any, weight: Any, *xs: Any) -> Any:
    return ops.sum(model(*xs) * weight)


def _weights(shape: tuple) -> np.ndarray:
    return np.random.Generator(np.random.PCG64(1)).standard_normal(shape).astype(np.float32)


def _report(args: argparse.Namespace, records: list, label: str) -> int:
    if args.json:
        print(json.dumps([r.public() for r in records], indent=2))
    else:
        print(_CLI["table"](records))
        bad = sum(not r.ok for r in records)
        print(f"\n{len(records) - bad} agree, {bad} disagree or fail (reference: {label}; "
              f"rtol={args.rtol:g}, atol={args.atol:g})")
    return 0 if all(r.ok for r in records) else 1
