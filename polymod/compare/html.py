"""The HTML report of ``polymod compare --html FILE``: one self-contained page.

The page holds the summary table, the explanations, and per model a plot drawn
with matplotlib and inlined as a base64 PNG (nothing is fetched when it opens):
the difference of each submodule's output from the reference, relative to its
scale, in completion order (x), on a log scale (y), one line per backend, the
allowed difference as a grey dashed line and the first divergence marked.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import os
import tempfile
from collections.abc import Sequence

from .records import Record
from .report import HEADER, explain, table_rows

FLOOR = 1e-12  # where an exact match is drawn on the log scale
# one colour per backend, in the order the records come (the reference's grey unused here)
_COLOURS = ("#e8710a", "#8e24aa", "#1f77b4", "#2e7d32", "#c62828", "#00838f")
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;
color:#1b1b1b;max-width:1200px}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.2em;margin-top:28px}
.meta{color:#555;font-size:.9em;margin-top:0}
table{border-collapse:collapse;font-size:.85em;margin:8px 0}
th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}
td.wrap{white-space:normal;min-width:14em;overflow-wrap:anywhere}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#137333;font-weight:600}.differs{color:#c5221f;font-weight:700}
.error{color:#a0148c;font-weight:700}
.notes li{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;
white-space:pre-wrap}
img{max-width:100%;border:1px solid #ddd}
.scroll{overflow-x:auto}
"""


def write_html(path: str, records: Sequence[Record], command: str = "polymod compare") -> None:
    """Writes the report for ``records`` to ``path`` (atomically: a temp file, then rename)."""
    page = render_html(records, command)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".polymod-report-", suffix=".html", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(page)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def render_html(records: Sequence[Record], command: str = "polymod compare") -> str:
    """The report as one HTML string."""
    import polymod

    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>polymod compare report</title>", f"<style>{_STYLE}</style></head><body>",
             "<h1>polymod compare</h1>",
             f'<p class="meta"><code>{html.escape(command)}</code> &middot; polymod '
             f"{polymod.__version__} &middot; {when}</p>",
             "<h2>Summary</h2>", _summary(records)]
    for model in dict.fromkeys(r.model for r in records):
        parts.append(_model_section(model, [r for r in records if r.model == model]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary(records: Sequence[Record]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    rows = []
    for record, row in zip(records, table_rows(records), strict=True):
        kind = "ok" if record.ok else ("error" if record.error else "differs")
        cells = "".join(f'<td class="n">{html.escape(c)}</td>' if 3 <= i <= 6
                        else f"<td>{html.escape(c)}</td>" for i, c in enumerate(row[:-1]))
        rows.append(f'<tr>{cells}<td class="{kind} wrap">{html.escape(row[-1])}</td></tr>')
    bad = sum(not r.ok for r in records)
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>'
            f"{''.join(rows)}</tbody></table></div>"
            f"<p>{len(records) - bad} agree, {bad} disagree or fail.</p>")


def _model_section(model: str, records: list[Record]) -> str:
    parts = [f"<section><h2>{html.escape(model)}</h2>"]
    notes = [line for r in records for line in explain(r)]
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>"
                                                   for n in notes) + "</ul>")
    traced = [r for r in records if r.trace]
    if traced:
        png = plot_png(model, traced)
        parts.append(f'<img alt="relative difference per submodule of {html.escape(model)}" '
                     f'src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        parts.append(f"<p class=\"meta\">Each point is one submodule's output: the largest "
                     f"difference from the reference divided by the output's scale (its "
                     f"largest value). Exact matches are drawn at {FLOOR:g}.</p>")
        parts.append(_trace_table(traced))
    else:
        parts.append("<p>No per-submodule trace for this model (run with --trace).</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _events(records: list[Record]) -> list[str]:
    return list(dict.fromkeys(e["event"] for r in records for e in r.trace or []))


def _trace_table(records: list[Record]) -> str:
    events = _events(records)
    by = {r.backend: {e["event"]: e for e in r.trace or []} for r in records}
    head = "<th>#</th><th>submodule output</th>" + "".join(
        f"<th>{html.escape(r.backend)}</th>" for r in records) + "<th>allowed</th>"
    rows = []
    for index, event in enumerate(events):
        cells, allowed = [], None
        for r in records:
            entry = by[r.backend].get(event)
            if entry is None:
                cells.append('<td class="n">-</td>')
                continue
            allowed = entry.get("rel_limit") if allowed is None else allowed
            kind = "" if entry["ok"] else ' differs'
            cells.append(f'<td class="n{kind}">{entry["max_rel_diff"]:.1e}</td>')
        limit = f"{allowed:.1e}" if allowed is not None else "-"
        rows.append(f'<tr><td class="n">{index}</td><td>{html.escape(event)}</td>'
                    f'{"".join(cells)}<td class="n">{limit}</td></tr>')
    return (f"<details><summary>Every submodule's difference, relative to its scale "
            f"({len(events)} outputs)</summary><div class=\"scroll\"><table><thead><tr>{head}"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></details>")


def plot_png(model: str, records: list[Record]) -> bytes:
    """The per-submodule plot of one model as PNG bytes (matplotlib, no display needed)."""
    from matplotlib.figure import Figure  # the object API: no pyplot, no GUI backend

    events = _events(records)
    position = {event: i for i, event in enumerate(events)}
    colour_of = {r.backend: _COLOURS[i % len(_COLOURS)] for i, r in enumerate(records)}
    figure = Figure(figsize=(11, 4.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    limits: dict[int, float] = {}
    for record in records:
        xs = [position[e["event"]] for e in record.trace]
        ys = [max(e["max_rel_diff"], FLOOR) for e in record.trace]
        for e in record.trace:
            if e.get("rel_limit"):
                limits.setdefault(position[e["event"]], e["rel_limit"])
        axes.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.2, label=record.backend,
                  color=colour_of[record.backend])
    if limits:
        xs = sorted(limits)
        axes.step(xs, [limits[x] for x in xs], where="mid", color="#888888", linestyle="--",
                  linewidth=1, label="allowed")
    for record in records:
        if record.divergence is None:
            continue
        x = position.get(record.divergence["event"])
        if x is None:
            continue
        y = max(record.divergence["max_rel_diff"], FLOOR)
        colour = colour_of[record.backend]
        axes.axvline(x, color=colour, linestyle=":", linewidth=1)
        axes.plot([x], [y], marker="X", markersize=11, color=colour, zorder=5)
        axes.annotate(f"first divergence on {record.backend}:\n{record.divergence['event']}",
                      (x, y), textcoords="offset points", xytext=(10, -34), fontsize=9,
                      color=colour, fontweight="bold",
                      bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85,
                            "edgecolor": colour})
    axes.set_yscale("log")
    low, high = axes.get_ylim()
    axes.set_ylim(low, high * 30)  # room above the lines for the legend
    axes.set_xlim(-1, max(len(events), 2))
    axes.set_ylabel("max |diff| / scale of the output")
    axes.set_xlabel("submodule outputs, in order of completion")
    mode = records[0].mode
    against = records[0].reference or "the reference"
    axes.set_title(f"{model} ({mode} mode): difference from {against}, per submodule",
                   fontsize=11)
    step = max(1, len(events) // 40)
    ticks = list(range(0, len(events), step))
    axes.set_xticks(ticks, [events[i] for i in ticks], rotation=90, fontsize=6)
    axes.grid(True, which="major", axis="y", alpha=0.3)
    axes.legend(loc="upper left", fontsize=8, ncols=len(records) + 1, framealpha=0.9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

