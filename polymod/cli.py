"""The ``polymod`` command: ``compare`` models across backends, ``info`` on what is installed.

    polymod compare                         # the chapter's listings on every installed backend
    polymod compare mypkg.models:make_net --input-shape 8,3,32,32 --backends torch,keras
    polymod compare --json                  # one record per model x backend (see docs/compare.md)
    polymod info

Exit status: 0 when every backend agrees, 1 on a disagreement or a failure on
some backend, 2 on a usage error (a factory that cannot be imported, a bad shape).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import registry, selection
from .errors import BackendNameError


class UsageError(Exception):
    """A problem with the command line: reported in one line, exit status 2."""


def _parse_shape(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise UsageError(f"--input-shape expects comma-separated positive integers including "
                         f"the batch dimension, e.g. 2,20; received {text!r}.")
    shape = tuple(int(part) for part in parts)
    if any(n < 1 for n in shape):
        raise UsageError(f"--input-shape expects comma-separated positive integers including "
                         f"the batch dimension, e.g. 2,20; received {text!r}.")
    return shape


def _parse_backends(text: str | None) -> list[str]:
    if not text:
        return [b for b in registry.available_backends() if b != registry.REFERENCE]
    names = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            name = registry.canonical_name(part)
        except BackendNameError as err:
            raise UsageError(str(err)) from None
        if not registry.is_installed(name):
            raise UsageError(f"Backend {name!r} is not installed: pip install "
                             f"'polymod[{registry.spec(name).extra}]'.")
        if name != registry.REFERENCE:
            names.append(name)
    return names


def _load_factory(target: str) -> Callable[[], Any]:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UsageError(f"Expected MODULE:FACTORY (e.g. mypkg.models:make_net); received "
                         f"{target!r}.")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`, find modules in the current folder
    try:
        if module_name.endswith(".py") and os.path.exists(module_name):
            spec = importlib.util.spec_from_file_location("_polymod_target", module_name)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except Exception as err:
        raise UsageError(f"Cannot import {module_name!r} (from {target!r}): "
                         f"{type(err).__name__}: {err}") from None
    factory: Any = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise UsageError(f"{module_name!r} has no attribute {attr!r} (from {target!r}).")
    if not callable(factory):
        raise UsageError(f"{target!r} is a {type(factory).__name__}, not a callable factory.")
    return factory


def _checked(factory: Callable[[], Any], target: str) -> Callable[[], Any]:
    """The factory, after checking once that it makes a polymod Module."""
    from .module import Module

    try:
        made = factory()
    except Exception as err:
        raise UsageError(f"{target!r} failed when called with no arguments: "
                         f"{type(err).__name__}: {err}") from None
    if not isinstance(made, Module):
        raise UsageError(f"{target!r} returned a {type(made).__qualname__}; expected a "
                         f"zero-argument factory returning a polymod Module.")
    return factory


def _fmt(value: Any, spec: str = ".2e") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def _table(records: Sequence[Any]) -> str:
    header = ("model", "backend", "output shape", "max|diff|", "max rel", "grad diff",
              "us/call", "result")
    rows = [header]
    for r in records:
        result = "ok" if r.ok else ("ERROR" if r.error else "DIFFERS")
        if not r.ok and r.first_divergence:
            result += f" at {r.first_divergence}"
        rows.append((r.model, r.backend, "x".join(map(str, r.output_shape or [])) or "()",
                     _fmt(r.max_abs_diff), _fmt(r.max_rel_diff), _fmt(r.grad_max_abs_diff),
                     _fmt(r.us_per_call, ".1f"), result))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    errors = [f"  {r.model} on {r.backend}: {r.error}" for r in records if r.error]
    return "\n".join(lines + (["", "errors:", *errors] if errors else []))


def _compare(args: argparse.Namespace) -> int:
    from .compare import compare
    from .examples import chapter

    backends = _parse_backends(args.backends)
    for flag in ("rtol", "atol"):
        if getattr(args, flag) < 0:
            raise UsageError(f"--{flag} must be >= 0; received {getattr(args, flag)}.")
    if getattr(args, "original", None):  # compare a converted model with its original
        from .convert.cli import compare_with_original

        return compare_with_original(args, backends)
    if args.target:
        targets = {args.target: _checked(_load_factory(args.target), args.target)}
        shape = _parse_shape(args.input_shape or "2,20")
    else:
        targets = dict(chapter.LISTINGS)
        shape = _parse_shape(args.input_shape) if args.input_shape else chapter.INPUT_SHAPE
    rng = np.random.Generator(np.random.PCG64(args.seed))
    X = rng.random(shape).astype(np.float32)
    records = []
    total = len(targets) * (len(backends) + 1)
    done = 0

    def progress(message: str) -> None:
        nonlocal done
        done += 1
        if not args.quiet:
            print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)

    for name, factory in targets.items():
        records += compare(factory, [X], backends=backends, name=name, rtol=args.rtol,
                           atol=args.atol, grads=not args.no_grads, seed=args.seed,
                           timing=not args.no_timing, progress=progress)
    if args.json:
        print(json.dumps([r.public() for r in records], indent=2))
    else:
        print(_table(records))
        bad = sum(not r.ok for r in records)
        print(f"\n{len(records) - bad} agree, {bad} disagree or fail "
              f"(reference: {registry.REFERENCE}; rtol={args.rtol:g}, atol={args.atol:g})")
    return 0 if all(r.ok for r in records) else 1


def _info(args: argparse.Namespace) -> int:
    import polymod

    print(f"polymod {polymod.__version__} (python {sys.version.split()[0]})")
    print(f"default backend: {selection.get_backend()}")
    for name in registry.NAMES:
        if registry.is_installed(name):
            try:
                version = registry.adapter(name).version()
            except Exception as err:  # installed but broken: say so
                version = f"installed, fails to load: {type(err).__name__}: {err}"
            print(f"  {name:<6} {version}")
        else:
            print(f"  {name:<6} missing: {registry.spec(name).install_hint}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polymod", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser("compare", help="compare a model's numbers across backends")
    cmp.add_argument("target", nargs="?", help="MODULE:FACTORY (default: the chapter's listings)")
    cmp.add_argument("--input-shape", help="input shape including the batch, e.g. 2,20")
    cmp.add_argument("--backends", help="comma-separated backends (default: all installed)")
    cmp.add_argument("--seed", type=int, default=0, help="seed for weights and input")
    cmp.add_argument("--rtol", type=float, default=2e-5, help="relative tolerance")
    cmp.add_argument("--atol", type=float, default=1e-6, help="absolute tolerance")
    cmp.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    cmp.add_argument("--no-grads", action="store_true", help="skip the gradient comparison")
    cmp.add_argument("--no-timing", action="store_true", help="skip the per-call timing")
    cmp.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    cmp.set_defaults(run=_compare)
    from .interop import add_cli

    add_cli(cmp, sub, UsageError=UsageError, load_factory=_load_factory,
            parse_shape=_parse_shape, table=_table)
    info = sub.add_parser("info", help="list backends, versions and what is missing")
    info.set_defaults(run=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``polymod`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as err:
        print(f"polymod {args.command}: error: {err}", file=sys.stderr)
        return 2
