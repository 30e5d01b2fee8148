"""Whether the installed NumPy suits the installed frameworks, read from package metadata.

The known trap (docs/index.md, "NumPy 1 or NumPy 2"): MXNet 1.9.1 needs NumPy < 2, so
``pip install 'polymod[gluon]'`` in an environment that has NumPy 2 downgrades NumPy,
and leaves packages built for NumPy 2 (ml_dtypes, jax/jaxlib, TensorFlow) that then
fail on import. pip warns once, at install time; ``polymod info`` says it every time.

Nothing here imports a framework: each distribution's declared ``numpy`` requirement
(``Requires-Dist``) is checked against the installed NumPy version.

Example:
    >>> from polymod import environment
    >>> environment.numpy_conflicts(numpy_version="1.26.4",
    ...                             requirements={"jax 0.10.2": ">=2.0"})
    ['jax 0.10.2 needs numpy>=2.0; NumPy 1.26.4 is installed']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import metadata

from . import registry

#: The distributions whose NumPy requirement matters to polymod's backends (each
#: backend's ``distributions`` in the registry), each once.
WATCHED: tuple[str, ...] = tuple(dict.fromkeys(
    name for spec in registry.SPECS for name in spec.distributions))

_CLAUSE = re.compile(r"^\s*(~=|==|!=|<=|>=|<|>)\s*([0-9][0-9a-zA-Z.*+!-]*)\s*$")


def numpy_conflicts(numpy_version: str | None = None,
                    requirements: Mapping[str, str] | None = None,
                    paths: Iterable[str] | None = None) -> list[str]:
    """Lists the installed packages whose NumPy requirement the installed NumPy breaks.

    Args:
        numpy_version: the NumPy version to check (default: the installed one).
        requirements: ``{"name version": "<2"}`` (NumPy specifiers) to check (default: read from the
            metadata of the :data:`WATCHED` distributions that are installed).
        paths: where to look for distributions (default: ``sys.path``).

    Returns:
        One sentence per broken package, e.g. ``"jax 0.10.2 needs numpy>=2.0; NumPy
        1.26.4 is installed"``; empty when the mix is sound.
    """
    if numpy_version is None:
        numpy_version = _installed_version(registry.NUMPY_DISTRIBUTION, paths) or ""
    if requirements is None:
        requirements = installed_numpy_requirements(paths)
    return [f"{owner} needs {registry.NUMPY_DISTRIBUTION}{spec}; NumPy {numpy_version} "
            "is installed"
            for owner, spec in requirements.items()
            if spec and not satisfies(numpy_version, spec)]


def installed_numpy_requirements(paths: Iterable[str] | None = None) -> dict[str, str]:
    """``{"name version": specifier}`` of each installed :data:`WATCHED` distribution
    that declares an unconditional requirement on numpy (``">=1.26,<2"`` style)."""
    found = {}
    for name in WATCHED:
        dist = _distribution(name, paths)
        if dist is None:
            continue
        for requirement in dist.requires or ():
            spec = _numpy_specifier(requirement)
            if spec:
                found[f"{dist.metadata['Name']} {dist.version}"] = spec
    return found


def satisfies(version: str, specifier: str) -> bool:
    """Whether ``version`` meets every comma-separated clause of ``specifier``
    (numeric release parts only; a clause this check cannot read counts as met)."""
    have = _release(version)
    for clause in specifier.split(","):
        match = _CLAUSE.match(clause)
        if not match or not have:
            continue
        op, raw = match.groups()
        if raw.endswith(".*"):  # ==1.* / !=1.*: compare the given prefix
            prefix = _release(raw[:-2])
            equal = have[:len(prefix)] == prefix
            if (op == "==") != equal:
                return False
            continue
        want = _release(raw)
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        ok = {"==": a == b, "!=": a != b, "<=": a <= b, ">=": a >= b, "<": a < b,
              ">": a > b, "~=": a >= b and a[:len(want) - 1] == b[:len(want) - 1]}[op]
        if not ok:
            return False
    return True


def _numpy_specifier(requirement: str) -> str:
    """The version specifier of a ``numpy`` requirement line without an extra or a
    marker that excludes this environment ('' for any other line)."""
    text, _, marker = requirement.partition(";")
    name = re.escape(registry.NUMPY_DISTRIBUTION)
    match = re.match(rf"^\s*{name}\s*(?:\[[^\]]*\])?\s*\(?([^)]*)\)?\s*$", text,
                     re.IGNORECASE)
    if not match or "extra" in marker:
        return ""
    if marker.strip() and not _marker_holds(marker):
        return ""
    return match.group(1).replace(" ", "")


def _marker_holds(marker: str) -> bool:
    """Python-version markers (the common ones on numpy pins); others count as true."""
    import sys

    match = re.fullmatch(r"\s*python_version\s*(<=|>=|<|>|==|!=)\s*['\"]([0-9.]+)['\"]\s*",
                         marker)
    if not match:
        return True
    current = ".".join(str(part) for part in sys.version_info[:2])
    return satisfies(current, match.group(1) + match.group(2))


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
        if digits.group() != piece:  # 2.0rc1: the release ends here
            break
    return tuple(parts)


def _distribution(name: str, paths: Iterable[str] | None) -> metadata.Distribution | None:
    if paths is None:
        try:
            return metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return None
    return next(iter(metadata.distributions(name=name, path=list(paths))), None)


def _installed_version(name: str, paths: Iterable[str] | None) -> str | None:
    dist = _distribution(name, paths)
    return dist.version if dist is not None else None
