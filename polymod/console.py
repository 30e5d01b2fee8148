"""What a command needs besides its options: usage errors, the callables that
``MODULE:NAME`` targets name, and output that may go to a closed pipe or a full disk.

Used by ``polymod.cli`` and by the subcommands (``polymod.compare.command``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """A problem with the command line: reported in one line, exit status 2."""


def load_target(target: str, what: str = "MODULE:FACTORY") -> Callable[..., Any]:
    """The callable named by ``MODULE:NAME`` or ``path/to/FILE.py:NAME``.

    A ``.py`` file is imported as a registered module named after the file (so
    ``dataclasses`` and pickling find it), with its folder first on ``sys.path`` (so
    it imports its neighbours). A module name is searched in the current folder too,
    as ``python -m`` does.

    Raises:
        UsageError: the target is malformed, cannot be imported, or is not callable.
    """
    source, _, attr = target.rpartition(":")
    if not source or not attr:
        raise UsageError(f"{what} expects {what} (e.g. mypkg.models:make_net or "
                         f"models.py:make_net); received {target!r}.")
    try:
        module = _import(source)
    except UsageError:
        raise
    except (Exception, SystemExit) as err:
        raise UsageError(f"Cannot import {source!r} (from {target!r}): "
                         f"{type(err).__name__}: {err}") from None
    found: Any = module
    for part in attr.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise UsageError(f"{source!r} has no attribute {attr!r} (from {target!r}).")
    if not callable(found):
        raise UsageError(f"{target!r} is a {type(found).__name__}, not a callable.")
    return found


def _import(source: str) -> Any:
    path = Path(source)
    if source.endswith(".py") or path.is_file():
        if not path.is_file():
            raise UsageError(f"Cannot import {source!r}: no such file.")
        path = path.resolve()
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = path.stem
        existing = sys.modules.get(name)
        if existing is not None and getattr(existing, "__file__", None) == str(path):
            return existing
        if existing is not None or not name.isidentifier():
            name = f"_polymod_target_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"Cannot import {source!r}: not a Python file.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses, pickle and typing look it up there
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`, find modules in the current folder
    return importlib.import_module(source)


def write_out(text: str) -> None:
    """Writes ``text`` to stdout; a closed pipe ends quietly, a failed write is an error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except OSError as err:
        _silence_stdout()
        raise _WriteError(f"cannot write the output: {err}") from None


def say(text: str) -> None:
    """A progress or status line on stderr (nothing if stderr is closed)."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (BrokenPipeError, OSError):
        pass


class _WriteError(UsageError):
    pass


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; point it at /dev/null so that flush cannot
    # fail a second time and print "Exception ignored ... BrokenPipeError".
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
