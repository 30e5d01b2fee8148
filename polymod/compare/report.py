"""Reading the records: the table (plain text, or ``rich`` in a terminal) and explanations.

``table_rows`` gives the cells once; ``plain_table`` lays them out for pipes and
files, ``print_rich_table`` draws them with colour (``ok`` green, ``DIFFERS`` red,
``ERROR`` magenta) when ``rich`` is installed and the output is a terminal.
``explain`` turns a record that does not agree into sentences naming the
output leaf, the first diverging submodule or the parameter, and the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from .. import registry
from .records import Record

GRADIENT_LINES = 3  # parameters named under the table; the JSON lists them all
HEADER = ("model", "backend", "outputs", "max|diff|", "max rel", "grad rel", "us/call", "result")


def _number(value: Any, spec: str = ".2e") -> str:
    return "-" if value is None else format(value, spec)


def _shapes(record: Record) -> str:
    shapes = [entry.get("shape") for entry in record.outputs] if record.outputs else []
    if not shapes and record._run is not None:
        shapes = [list(array.shape) for _, array in record._run.outputs]
    text = ", ".join("x".join(map(str, s)) or "()" for s in shapes if s is not None)
    return text or "-"


def result_text(record: Record) -> str:
    """The last column: ``ok``, ``ERROR``, ``DIFFERS at <submodule> (<rel>)``, ..."""
    if record.error:
        return "ERROR (reference)" if record.backend == registry.REFERENCE else "ERROR"
    if record.ok:
        return "ok" if record.reference in (None, registry.REFERENCE) \
            else f"ok (vs {record.reference})"
    if record.divergence is not None:
        return (f"DIFFERS at {record.divergence['event']} "
                f"({record.divergence['max_rel_diff']:.1e})")
    bad = [leaf["name"] for leaf in record.outputs if not leaf.get("ok", True)]
    if bad:
        return f"DIFFERS: {bad[0]}"
    if record.grad_failures:
        first = record.grad_failures[0]
        rel = first.get("max_rel_diff")
        return f"DIFFERS: grad {first['parameter']}" + (f" ({rel:.1e})" if rel else "")
    return "DIFFERS"


def table_rows(records: Sequence[Record]) -> list[tuple[str, ...]]:
    """The table's cells, one tuple per record, in ``HEADER``'s order."""
    return [(r.model, r.backend, _shapes(r), _number(r.max_abs_diff), _number(r.max_rel_diff),
             _number(r.grad_max_rel_diff), _number(r.us_per_call, ".1f"), result_text(r))
            for r in records]


def _columns(records: Sequence[Record]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and rows for a terminal: the model column only when there are several."""
    rows = table_rows(records)
    if len({r.model for r in records}) > 1:
        return HEADER, rows
    return HEADER[1:], [row[1:] for row in rows]


def plain_table(records: Sequence[Record]) -> str:
    """The table as aligned plain text (what a pipe or a file gets); with one model, its
    name is left to the summary line."""
    header, rows = _columns(records)
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_rich_table(records: Sequence[Record], file: TextIO, width: int | None = None) -> None:
    """Draws the table with ``rich`` (colour for ok / DIFFERS / ERROR); on a narrow
    terminal the model and result columns wrap, the numbers never do."""
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, header_style="bold")
    header, rows = _columns(records)
    for name in header:
        numeric = name in ("max|diff|", "max rel", "grad rel", "us/call")
        wraps = name in ("model", "outputs", "result")
        table.add_column(name, justify="right" if numeric else "left", no_wrap=not wraps,
                         overflow="fold")
    for record, row in zip(records, rows, strict=True):
        style = "green" if record.ok else ("bold magenta" if record.error else "bold red")
        table.add_row(*row[:-1], f"[{style}]{_escape(row[-1])}[/]")
    Console(file=file, width=width).print(table)


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def details(records: Sequence[Record]) -> list[str]:
    """The lines under the table: every error and disagreement, explained."""
    return [line for record in records for line in explain(record)]


def explain(record: Record) -> list[str]:
    """Why ``record`` does not agree, in sentences (empty when it agrees)."""
    if record.error:
        if record.backend == registry.REFERENCE:
            return [f"{record.model}: {record.backend} (the reference) failed: {record.error}"]
        return [f"{record.model} on {record.backend}: {record.error}"]
    if record.ok:
        return []
    lines = []
    against = "the NumPy reference" if record.reference == registry.REFERENCE \
        else f"{record.reference} (the reference failed)"
    head = f"{record.model} on {record.backend}"
    where = record.divergence
    located = (f", first at submodule '{where['event']}' (max |diff| "
               f"{where['max_abs_diff']:.3g}, {where['max_rel_diff']:.3g} of its scale, "
               f"allowed {where['limit']:.3g})") if where else ""
    bad = [leaf for leaf in record.outputs if not leaf.get("ok", True)]
    for leaf in bad:
        if "missing" in leaf:
            lines.append(f"{head}: output {leaf['name']} is missing on {leaf['missing']}")
            continue
        lines.append(f"{head}: output {leaf['name']} differs from {against}{located}; "
                     f"max |diff| {leaf['max_abs_diff']:.3g}, {leaf['max_rel_diff']:.3g} of "
                     f"its scale (allowed {leaf['limit']:.3g})")
    if not bad and where is not None:
        lines.append(f"{head}: the outputs agree, but submodule '{where['event']}' "
                     f"differs from {against}: max |diff| "
                     f"{where['max_abs_diff']:.3g}, {where['max_rel_diff']:.3g} of its scale "
                     f"(allowed {where['limit']:.3g})")
    shown = record.grad_failures[:GRADIENT_LINES]
    for failure in shown:
        name = failure["parameter"]
        if "missing" in failure:
            lines.append(f"{head}: no gradient for parameter '{name}' on {failure['missing']}")
            continue
        lines.append(f"{head}: gradient of parameter '{name}' differs from "
                     f"{record.grad_reference}'s: max |diff| {failure['max_abs_diff']:.3g}, "
                     f"{failure['max_rel_diff']:.3g} of its scale (allowed "
                     f"{failure['limit']:.3g})")
    more = len(record.grad_failures) - len(shown)
    if more:
        lines.append(f"{head}: and {more} more parameter{'s' * (more > 1)} whose gradients "
                     f"differ (all in the JSON's grad_failures)")
    return lines or [f"{head}: {result_text(record)}"]
