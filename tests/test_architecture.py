"""The shape of the code: the core's import graph has no cycle, only the registry names a
framework, and files stay small enough to have one job."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

import polymod as pm
from polymod import registry

ROOT = pathlib.Path(pm.__file__).parent
REPO = ROOT.parent
#: The core files allowed to name a framework: the registry (what the backends are),
#: interop (public entry points named after a framework, such as ``pm.from_torch``) and
#: the initializers (the init schemes ``'torch'``, ``'keras'``, ``'gluon'`` are public
#: names of those frameworks' default initialisations).
NAMING_ALLOWED = {"registry.py", "interop.py", "initializers.py"}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(name: str) -> bool:
    return (ROOT.parent / name.replace(".", "/") / "__init__.py").exists()


def _exists(name: str) -> bool:
    base = ROOT.parent / name.replace(".", "/")
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(path: pathlib.Path) -> set[str]:
    """The polymod modules a file imports, at module level or inside functions."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("polymod")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("polymod"):
                continue
            for alias in node.names:  # `from . import registry`: the submodule itself
                sub = f"{target}.{alias.name}"
                if _exists(sub):
                    found.add(sub)
                elif target != "polymod":  # `from polymod import x` (x an attribute) is a
                    found.add(target)  # use of the top-level API, not a core dependency
    return {m for m in found if m != name}


def _core_files(examples: bool = True) -> list[pathlib.Path]:
    skip = {"backends"} if examples else {"backends", "examples"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def test_the_core_import_graph_has_no_cycle():
    graph = {_module_name(p): _imports(p) for p in _core_files()}
    graph = {k: {m for m in v if m in graph} for k, v in graph.items()}
    # the top-level package re-exports everything; examples and tests import `polymod`
    graph.pop("polymod", None)
    for edges in graph.values():
        edges.discard("polymod")
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == [], "import cycles in the core:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _framework_words() -> set[str]:
    words = set()
    for spec in registry.SPECS:
        words |= {spec.name, *spec.aliases, *spec.requires, *spec.owns}
    return words


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_only_the_registry_names_a_framework():
    """Backend names, aliases and framework modules appear in the core's code (imports,
    string literals, messages) only in the registry: everything else reads the specs.
    Docstrings and comments may mention them, and so may the example models in
    polymod/examples/ (user code that lives in the package)."""
    words = _framework_words()
    pattern = re.compile(r"(?<![\w.])(" + "|".join(sorted(words, key=len, reverse=True))
                         + r")(?![\w])")
    offenders = []
    for path in _core_files(examples=False):
        if path.name in NAMING_ALLOWED and path.parent == ROOT:
            continue
        tree = ast.parse(path.read_text())
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                hits = [n for n in names if n.partition(".")[0] in words - {"numpy"}]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in skip:
                hits = pattern.findall(node.value)
            else:
                continue
            for hit in hits:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {hit!r}")
    assert offenders == [], "\n".join(offenders)


def test_files_have_one_job_and_stay_small():
    """At most 400 lines in polymod/ and backends/, 600 in tests/ and benchmarks/."""
    limits = {"polymod": 400, "backends": 400, "tests": 600, "benchmarks": 600}
    too_long = []
    for folder, limit in limits.items():
        for path in (REPO / folder).rglob("*.py"):
            lines = len(path.read_text().splitlines())
            if lines > limit:
                too_long.append(f"{path.relative_to(REPO)}: {lines} lines (limit {limit})")
    assert too_long == [], "\n".join(too_long)


def test_pyproject_lists_every_package():
    """A non-editable install ships only the packages pyproject.toml lists."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {_module_name(p) for p in ROOT.rglob("__init__.py")}
    found |= {"polymod.backends" + "".join(f".{x}" for x in p.parent.relative_to(
        REPO / "backends").parts) for p in (REPO / "backends").rglob("__init__.py")}
    assert found - listed == set(), f"not in pyproject.toml's packages: {sorted(found - listed)}"
