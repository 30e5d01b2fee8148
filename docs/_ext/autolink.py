"""mkdocs hook: inline code that names a public object links to its reference entry.

A guide writes ```nn.Linear```, ```pm.seed(0)``` or ```ShapeError``` in backticks and
the site links it to the entry in the reference (through mkdocs-autorefs), on every
page, with nothing to maintain: a new page gets its links too. Code inside code
blocks, headings and links is left alone.

Which names link, and the reference entry (anchor) each one needs, come from
:func:`public_api`. ``tests/test_docs.py`` checks that the built site has an entry for
every one of them, so a new public name without a reference entry fails the tests.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from functools import cache
from html import unescape
from typing import Any

# Modules whose public names are the API; a submodule gets its own entry too.
PUBLIC_MODULES = ("polymod", "polymod.nn", "polymod.ops", "polymod.init", "polymod.optim",
                  "polymod.io", "polymod.testing")
# Short spellings a reader meets in the docs: `nn.Linear`, `ops.relu`, `pm.seed`.
SHORT_PREFIXES = {"polymod.nn.": "nn.", "polymod.ops.": "ops.", "polymod.": "pm."}
# Classes also written bare (`ShapeError`). Layers are not: `Dense` or `Sequential`
# next to "Keras" or "Gluon" names the framework's own class.
BARE_CLASSES = ("Module", "Parameter", "Constant", "Buffer")


def public_names(module_name: str) -> list[str]:
    """The public names of a module: its ``__all__``, else what it defines itself."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
            and (getattr(value, "__module__", "") or "").startswith(module_name)]


@cache
def public_api() -> dict[str, str]:
    """Every public identifier -> the identifier of the reference entry that documents it.

    A name is documented once: where the same function or class is public under two
    names (``pm.save`` and ``pm.io.save``, ``ops.permute_dims`` and its alias
    ``ops.transpose``), the first in ``PUBLIC_MODULES`` order has the entry and the
    others point to it.
    """
    api: dict[str, str] = {}
    first: dict[int, str] = {}  # id of a function or class -> its entry
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        if module_name != "polymod":
            api[module_name] = module_name
        for name in public_names(module_name):
            value = getattr(module, name)
            if isinstance(value, types.ModuleType):
                continue  # its own entry comes from PUBLIC_MODULES
            identifier = f"{module_name}.{name}"
            if callable(value):
                identifier = first.setdefault(id(value), identifier)
            api[f"{module_name}.{name}"] = identifier
    for name, member in module_members():
        identifier = f"polymod.Module.{name}"
        if callable(member):
            identifier = first.setdefault(id(member), identifier)
        api[f"polymod.Module.{name}"] = identifier
    return api


def module_members() -> list[tuple[str, Any]]:
    """The public methods, properties and flags of ``pm.Module``, its mixins included."""
    import polymod

    found: dict[str, Any] = {}
    for cls in polymod.Module.__mro__[:-1]:  # not object
        for name in vars(cls):
            if not name.startswith("_"):
                found.setdefault(name, getattr(polymod.Module, name))
    return sorted(found.items())


@cache
def spellings() -> dict[str, str]:
    """How each public name may be written in inline code -> its entry."""
    import polymod

    found: dict[str, str] = {}
    for name, entry in public_api().items():
        found[name] = entry
        for long, short in SHORT_PREFIXES.items():
            if name.startswith(long):
                found.setdefault(short + name[len(long):], entry)
                break
    for name in polymod.__all__:
        value = getattr(polymod, name)
        if inspect.isclass(value) and (name in BARE_CLASSES
                                       or issubclass(value, polymod.PolymodError)):
            found.setdefault(name, public_api()[f"polymod.{name}"])
    for name, _ in module_members():
        found.setdefault(f"Module.{name}", public_api()[f"polymod.Module.{name}"])
    return found


_TAG = re.compile(r"<(/?)(pre|a|h[1-6]|autoref|code)\b([^>]*)>", re.IGNORECASE)
_CALL = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)(?:\(.*\))?$", re.DOTALL)


def _target(code_html: str) -> str | None:
    match = _CALL.match(unescape(code_html).strip())
    return spellings().get(match["name"]) if match else None


def link_code(page_html: str) -> str:
    """Wrap each linkable ``<code>`` outside pre, a, headings and autorefs in an autoref."""
    out, pos, blocked = [], 0, 0
    for tag in _TAG.finditer(page_html):
        closing, name, attrs = tag[1] == "/", tag[2].lower(), tag[3]
        if name != "code":
            blocked += -1 if closing else 1
            continue
        if closing or blocked or attrs.strip():
            continue
        end = page_html.find("</code>", tag.end())
        if end < 0:
            break
        identifier = _target(page_html[tag.end():end])
        if identifier is None:
            continue
        out.append(page_html[pos:tag.start()])
        out.append(f'<autoref identifier="{identifier}">{page_html[tag.start():end + 7]}'
                   "</autoref>")
        pos = end + 7
    out.append(page_html[pos:])
    return "".join(out)


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    return link_code(html)
