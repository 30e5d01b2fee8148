"""``polymod compare``: the command line's options checked, the models run, the report out.

Every option is checked before anything runs, and a bad one is a one-line usage
error (exit status 2) naming the option and the value. The models then run one
by one; progress goes to stderr, the table (or JSON) to stdout at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

import numpy as np

from .. import registry
from ..console import UsageError, load_target, say, write_out
from ..errors import BackendNameError
from .leaves import as_data, named_leaves
from .records import Record, compare
from .report import details, plain_table, print_rich_table

MAX_VALUES = 2 ** 28  # one random input of at most 1 GiB of float32
MAX_SEED = 2 ** 63 - 1


def run_compare(args: argparse.Namespace) -> int:
    """Runs ``polymod compare`` with parsed ``args``; returns the exit status."""
    from ..examples import chapter

    frameworks = parse_backends(args.backends)
    seed = parse_number(args.seed, "--seed", int, 0, MAX_SEED)
    rtol = parse_number(args.rtol, "--rtol", float, 0, 1e3)
    atol = parse_number(args.atol, "--atol", float, 0, 1e30)
    timeout = parse_number(args.timeout, "--timeout", float, 1e-3, 1e7)
    trace = args.trace or bool(args.html)
    if getattr(args, "original", None):  # --from-torch: compare a conversion with its original
        from ..convert.cli import compare_with_original

        args.seed = seed  # it reads the checked numbers, with its own element-wise rule
        args.rtol = 2e-5 if rtol is None else rtol
        args.atol = 1e-6 if atol is None else atol
        return compare_with_original(args, frameworks)
    if args.html:
        _check_html_possible(args.html)
    if args.inputs and args.input_shape:
        raise UsageError("--inputs and --input-shape both give the inputs; use one.")
    if args.target:
        targets = {_short(args.target): checked_factory(load_target(args.target), args.target)}
        default_shape = (2, 20)
    else:
        targets = dict(chapter.LISTINGS)
        default_shape = chapter.INPUT_SHAPE
    if args.inputs:
        positional, keywords = load_inputs(args.inputs)
    else:
        shape = parse_shape(args.input_shape) if args.input_shape else default_shape
        rng = np.random.Generator(np.random.PCG64(seed))
        positional, keywords = (rng.random(shape).astype(np.float32),), {}
    total = len(targets) * (len(frameworks) + 1)
    done = 0

    def progress(message: str, main: bool) -> None:
        nonlocal done
        if args.quiet:
            return
        if main:
            done += 1
            say(f"[{done}/{total}] {message}")
        else:
            say(f"      {message}")

    records: list[Record] = []
    for name, factory in targets.items():
        records += compare(factory, positional, keywords, backends=frameworks, name=name,
                           mode=args.mode, rtol=rtol, atol=atol, grads=not args.no_grads,
                           trace=trace, seed=seed, timing=not args.no_timing,
                           timeout=timeout, progress=progress)
    if args.html:
        from .html import write_html

        try:
            write_html(args.html, records, command=" ".join(["polymod", *sys.argv[1:]]))
        except OSError as err:
            raise UsageError(f"--html: cannot write {args.html!r}: {err}") from None
        if not args.quiet:
            say(f"HTML report: {args.html}")
    _print(records, args, rtol, atol)
    return 0 if all(r.ok for r in records) else 1


def _print(records: list[Record], args: argparse.Namespace, rtol: float | None,
           atol: float | None) -> None:
    if args.json:
        write_out(json.dumps([r.public() for r in records], indent=2) + "\n")
        return
    bad = sum(not r.ok for r in records)
    given = [f"{flag}={value:g}" for flag, value in (("rtol", rtol), ("atol", atol))
             if value is not None]  # the defaults (by dtype) go unsaid
    models = list(dict.fromkeys(r.model for r in records))
    which = [models[0]] if len(models) == 1 else []
    summary = (f"{len(records) - bad} agree, {bad} disagree or fail (" + ", ".join(
        [*which, f"{args.mode} mode", f"reference: {registry.REFERENCE}", *given]) + ")")
    notes = details(records)
    tail = ("\n" + "\n".join(notes) + "\n" if notes else "") + f"\n{summary}\n"
    if _terminal():
        print_rich_table(records, sys.stdout)
        write_out(tail)
    else:
        write_out(plain_table(records) + "\n" + tail)


def _short(target: str) -> str:
    """How a target is named in reports: ``models.py:make`` for ``path/to/models.py:make``."""
    source, _, attr = target.rpartition(":")
    return f"{os.path.basename(source)}:{attr}" if source.endswith(".py") else target


def _terminal() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _check_html_possible(path: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--html draws its plot with matplotlib, which is not installed: "
                         "pip install 'polymod[compare]'.") from None
    folder = os.path.dirname(os.path.abspath(path))
    if not path or path.endswith(("/", "\\")) or os.path.isdir(path):
        raise UsageError(f"--html expects a file name; received {path!r}.")
    if not os.path.isdir(folder):
        raise UsageError(f"--html: the folder {folder!r} does not exist.")


def parse_number(text: str | None, flag: str, kind: type, low: float, high: float) -> Any:
    """``text`` as an int or a finite float within [low, high], else a usage error."""
    if text is None:
        return None
    try:
        value = kind(text)
    except (TypeError, ValueError):
        value = None
    if value is None or (kind is float and not math.isfinite(value)) \
            or not low <= value <= high:
        what = "an integer" if kind is int else "a finite number"
        raise UsageError(f"{flag} expects {what} from {low:g} to {high:g}; received {text!r}.")
    return value


def parse_shape(text: str) -> tuple[int, ...]:
    """``--input-shape``: comma-separated positive sizes, at most 32 axes and 2**28 values."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() and len(part) <= 10 for part in parts) or \
            not all(int(part) >= 1 for part in parts):
        raise UsageError(f"--input-shape expects comma-separated positive integers including "
                         f"the batch dimension, e.g. 2,20; received {text!r}.")
    shape = tuple(int(part) for part in parts)
    if len(shape) > 32:
        raise UsageError(f"--input-shape has {len(shape)} axes; at most 32 are possible.")
    values = math.prod(shape)
    if values > MAX_VALUES:
        raise UsageError(f"--input-shape {text!r} asks for {values:,} values; at most "
                         f"{MAX_VALUES:,} (1 GiB of float32) are allowed.")
    return shape


def parse_backends(text: str | None) -> list[str]:
    """``--backends``: the frameworks to compare (the NumPy reference always runs)."""
    if text is None:
        names = [b for b in registry.available_backends() if b != registry.REFERENCE]
        if not names:
            raise UsageError("no framework is installed to compare with the NumPy reference: "
                             "pip install 'polymod[all]'.")
        return names
    names = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            name = registry.canonical_name(part.strip())
        except BackendNameError as err:
            raise UsageError(f"--backends: {err}") from None
        if not registry.is_installed(name):
            raise UsageError(f"--backends: {name!r} is not installed: pip install "
                             f"'polymod[{registry.spec(name).extra}]'.")
        if name != registry.REFERENCE and name not in names:
            names.append(name)
    if not names:
        example = ",".join(registry.FRAMEWORKS[:2])
        raise UsageError(f"--backends names no framework to compare with the NumPy reference; "
                         f"received {text!r} (e.g. --backends {example}).")
    return names


def checked_factory(factory: Any, target: str) -> Any:
    """The factory, after checking once that it makes a polymod Module."""
    from ..module import Module

    try:
        made = factory()
    except SystemExit:
        return factory  # the runs report it, as an error row for each backend
    except Exception as err:
        raise UsageError(f"{target!r} failed when called with no arguments: "
                         f"{type(err).__name__}: {err}") from None
    if not isinstance(made, Module):
        raise UsageError(f"{target!r} returned a {type(made).__qualname__}; expected a "
                         f"zero-argument factory returning a polymod Module.")
    return factory


def load_inputs(target: str) -> tuple[tuple, dict]:
    """``--inputs MODULE:FN``: FN() gives an array, a tuple of arrays or a dict of them."""
    fn = load_target(target, "--inputs")
    try:
        value = fn()
    except (Exception, SystemExit) as err:
        raise UsageError(f"--inputs {target!r} failed when called with no arguments: "
                         f"{type(err).__name__}: {err}") from None
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise UsageError(f"--inputs {target!r} returned a dict whose keys are not all "
                             f"strings (keyword names).")
        positional, keywords = (), dict(value)
    elif isinstance(value, (tuple, list)):
        positional, keywords = tuple(value), {}
    else:
        positional, keywords = (value,), {}
    data = as_data((positional, keywords))
    for name, leaf in named_leaves(data, "inputs"):
        ok = isinstance(leaf, np.ndarray) and leaf.dtype.kind in "biuf"
        if not ok and not isinstance(leaf, (bool, int, float, str)):
            kind = type(leaf)
            dtype = f" of dtype {leaf.dtype}" if isinstance(leaf, np.ndarray) else ""
            raise UsageError(f"--inputs {target!r} returned {name} = a "
                             f"{kind.__module__}.{kind.__qualname__}{dtype}; expected NumPy "
                             f"arrays (bool, integer or float) or tensors.")
    return data
