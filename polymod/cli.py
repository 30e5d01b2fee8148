"""The ``polymod`` command: ``compare`` models across backends, ``info`` on what is installed.

    polymod compare                         # the chapter's listings on every installed backend
    polymod compare mypkg.models:make_net --input-shape 8,3,32,32 --backends torch,keras
    polymod compare models.py:make_bert --inputs models.py:bert_inputs --mode train --trace
    polymod compare --json                  # one record per model x backend (see docs/compare.md)
    polymod info

Exit status: 0 when every backend agrees, 1 on a disagreement or an error in a
model, 2 when the command cannot run as asked (a usage error: a factory that
cannot be imported, a bad number, an empty backend list; or output that cannot
be written). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import registry, selection
from .console import UsageError, load_target, say, write_out
from .errors import BackendNameError


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in polymod's one-line form."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _info(args: argparse.Namespace) -> int:
    import polymod

    lines = [f"polymod {polymod.__version__} (python {sys.version.split()[0]})",
             f"default backend: {_default_backend()}"]
    for name in registry.NAMES:
        if registry.is_installed(name):
            try:
                version = registry.adapter(name).version()
            except Exception as err:  # installed but broken: say so
                version = f"installed, fails to load: {type(err).__name__}: {err}"
            lines.append(f"  {name:<6} {version}")
        else:
            lines.append(f"  {name:<6} missing: {registry.spec(name).install_hint}")
    lines += _numpy_mix_warning()
    write_out("\n".join(lines) + "\n")
    return 0


def _numpy_mix_warning() -> list[str]:
    """Lines warning that the installed NumPy breaks installed packages (the
    ``[gluon]``-on-NumPy-2 trap: see polymod.environment); none when the mix is sound."""
    from .environment import numpy_conflicts

    conflicts = numpy_conflicts()
    if not conflicts:
        return []
    pinned = [spec for spec in registry.SPECS if spec.numpy_pin]
    trap = [f"  {spec.name} ({spec.install_hint}) needs NumPy {spec.numpy_pin}: installing it "
            f"into a NumPy 2 environment downgrades NumPy and breaks the packages built for "
            f"NumPy 2 on import. Keep {spec.name} in an environment of its own, or install "
            f"every framework at once (docs: Install, NumPy 1 or NumPy 2)." for spec in pinned]
    return (["warning: the installed NumPy does not suit every installed package:"]
            + [f"  {each}" for each in conflicts] + trap)


def _default_backend() -> str:
    try:
        return selection.get_backend()
    except BackendNameError as err:
        raise UsageError(f"POLYMOD_BACKEND={os.environ.get('POLYMOD_BACKEND', '')!r}: "
                         f"{err}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="polymod", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    cmp = sub.add_parser("compare", help="compare a model's numbers across backends")
    cmp.add_argument("target", nargs="?", help="MODULE:FACTORY or FILE.py:FACTORY "
                                               "(default: the chapter's listings)")
    cmp.add_argument("--input-shape", help="shape of one random float input, batch first, "
                                           "e.g. 2,20")
    cmp.add_argument("--inputs", metavar="MODULE:FN", help="a zero-argument function "
                     "returning the inputs: an array, a tuple of arrays, or a dict of "
                     "keyword arrays")
    cmp.add_argument("--backends", help="comma-separated frameworks (default: all installed)")
    cmp.add_argument("--mode", choices=("eval", "train"), default="eval",
                     help="eval: dropout off, BatchNorm running statistics (default); train")
    cmp.add_argument("--seed", default="0", help="seed of the weights, inputs and dropout")
    cmp.add_argument("--rtol", help="tolerance relative to each leaf's scale (default: by "
                                    "dtype, 1e-5 for float32)")
    cmp.add_argument("--atol", help="absolute tolerance added to it (default 0)")
    cmp.add_argument("--trace", action="store_true",
                     help="compare every submodule's output; name the first that diverges")
    cmp.add_argument("--html", metavar="FILE", help="write a self-contained HTML report "
                                                    "(table and plot; implies --trace)")
    cmp.add_argument("--timeout", metavar="SECONDS", help="the longest one model may run "
                                                          "on one backend")
    cmp.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    cmp.add_argument("--no-grads", action="store_true", help="skip the gradient comparison")
    cmp.add_argument("--no-timing", action="store_true", help="skip the per-call timing")
    cmp.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    cmp.set_defaults(run=_compare)
    from .compare.command import parse_shape
    from .compare.report import plain_table
    from .interop import add_cli  # --from-torch and `polymod convert` (polymod.convert.cli)

    add_cli(cmp, sub, UsageError=UsageError, load_factory=load_target,
            parse_shape=parse_shape, table=plain_table)
    info = sub.add_parser("info", help="list backends, versions and what is missing")
    info.set_defaults(run=_info)
    return parser


def _compare(args: argparse.Namespace) -> int:
    from .compare.command import run_compare

    return run_compare(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``polymod`` command; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = f"polymod {argv[0]}" if argv and argv[0] in ("compare", "info") else "polymod"
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except UsageError as err:
        say(f"{command}: error: {err}")
        return 2
    except BackendNameError as err:  # e.g. a bad POLYMOD_BACKEND read by a model
        say(f"{command}: error: {err}")
        return 2
    except KeyboardInterrupt:
        say(f"{command}: interrupted")
        return 130
