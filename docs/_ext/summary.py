"""mkdocs hook: ``<!-- summary -->`` becomes a table of the reference entries it names.

On a reference page, a line ``<!-- summary -->`` is replaced by a table with one row
per ``::: identifier`` that follows it, up to the next marker or heading: the name,
linked to its entry, and the first line of its docstring. A group's table cannot drift
from its entries, and a new entry joins the table by itself. (A group of one entry
gets no table; a lone module entry gets the table of its public members.)

``<!-- summary reference/nn/conv.md -->`` (a path from the repository root) makes the
table of every entry of that page instead: an overview page lists a whole group.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_MARKER = re.compile(r"^<!-- summary(?:\s+(?P<page>\S+))? -->$")
_DIRECTIVE = re.compile(r"^:::\s+(?P<identifier>[\w.]+)\s*$")
_HEADING = re.compile(r"^#{1,6}\s")


def resolve(identifier: str) -> Any:
    """The object named by a dotted path such as ``polymod.nn.Linear``."""
    parts = identifier.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise ImportError(f"cannot resolve {identifier!r}")


def first_line(identifier: str) -> str:
    """The docstring's first paragraph on one line (a table cell)."""
    doc = inspect.getdoc(resolve(identifier)) or ""
    return " ".join(doc.split("\n\n")[0].split()).replace("|", "\\|")


def public_members(module: Any) -> list[str]:
    """A module's ``__all__``, else the public names it defines (in definition order)."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, value in vars(module).items()
            if not name.startswith("_") and not inspect.ismodule(value)
            and (getattr(value, "__module__", "") or "").startswith(module.__name__)]


def table(identifiers: list[str]) -> str:
    rows = [f"| [`{identifier.rsplit('.', 1)[-1]}`][{identifier}] | {first_line(identifier)} |"
            for identifier in identifiers]
    return "\n".join(["| name | what it is |", "|---|---|", *rows])


def directives(lines: list[str]) -> list[str]:
    """The identifiers of the ``:::`` lines, up to the next marker or heading."""
    found = []
    for line in lines:
        if _MARKER.match(line.strip()) or _HEADING.match(line):
            break
        if directive := _DIRECTIVE.match(line):
            found.append(directive["identifier"])
    return found


def expand(markdown: str) -> str:
    """Replace each marker line by the table of the entries it names."""
    lines = markdown.splitlines()
    out = []
    for i, line in enumerate(lines):
        marker = _MARKER.match(line.strip())
        if not marker:
            out.append(line)
            continue
        if marker["page"]:
            text = (ROOT / "docs" / marker["page"]).read_text(encoding="utf-8")
            found = [m["identifier"] for m in map(_DIRECTIVE.match, text.splitlines()) if m]
        else:
            found = directives(lines[i + 1:])
        if len(found) == 1 and inspect.ismodule(module := resolve(found[0])):
            found = [f"{found[0]}.{name}" for name in public_members(module)]
        out.append(table(found) if len(found) > 1 else "")
    return "\n".join(out) + "\n"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    return expand(markdown) if "<!-- summary" in markdown else markdown
