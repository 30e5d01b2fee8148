"""Draw the performance page's chart and table from ``bench.py --json`` output.

    python benchmarks/bench.py --rounds 15 --json docs/assets/performance/bench.json
    python benchmarks/plot_performance.py docs/assets/performance/bench.json

writes, next to the JSON unless ``--out`` says otherwise:

* ``ratios.svg``: polymod's time over the faster native reference, one row per backend
  and mode, one marker per model, against each mode's budget (DESIGN.md);
* ``table.md``: the same run as a Markdown table of µs per call (the chapter's
  ``Sequential`` MLP), which docs/performance.md includes.

Both are committed, so the page shows the figures of the committed JSON; rerun both
commands when the figures change. Needs matplotlib (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MODES = (("fwd b2", "polymod"), ("fwd b1024", "polymod"),
         ("fwd+bwd b2", "polymod"), ("fwd+bwd b2", "pm.value_and_grad"),
         ("fwd+bwd b1024", "polymod"), ("fwd+bwd b1024", "pm.value_and_grad"))
MODE_LABELS = {"fwd": "forward", "fwd+bwd": "fwd + bwd"}
MODELS = {"sequential_mlp": ("o", "Sequential MLP"), "MLP": ("s", "MLP class"),
          "chimera": ("^", "chimera")}
WITHIN, OVER, BUDGET = "#3f6fb5", "#d0542c", "#6b6b6b"
TABLE_MODEL = "sequential_mlp"


def row_label(mode: str, call: str) -> str:
    kind, batch = mode.split(" b")
    if call == "pm.value_and_grad":
        return "  via value_and_grad"
    return f"{MODE_LABELS[kind]}, batch {batch}"


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not data.get("rows"):
        raise SystemExit(f"{path}: no 'rows'; expected the output of bench.py --json")
    return data


def draw(data: dict[str, Any], out: Path) -> None:
    """The ratio chart: rows grouped by backend, a marker per model, budget lines."""
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": "polymod",
                         "font.size": 12, "font.family": "DejaVu Sans"})
    rows = data["rows"]
    backends = [b for b in data["config"]["backends"] if any(r["backend"] == b for r in rows)]
    ratios = [r["ratio"] for r in rows]
    low, high = min(0.85, min(ratios) - 0.02), max(1.3, max(ratios) + 0.03)

    labels, y = [], 0.0
    fig, ax = plt.subplots(figsize=(5.2, 1.2 + 0.3 * (len(MODES) + 1.3) * len(backends)))
    for backend in backends:
        ax.text(low + 0.005, y - 0.55, backend, fontsize=13, fontweight="bold", va="center")
        y -= 1.1
        for mode, call in MODES:
            found = [r for r in rows if r["backend"] == backend and r["mode"] == mode
                     and r["polymod_call"] == call]
            if not found:
                continue
            budget = found[0]["budget"]
            ax.axhspan(y - 0.5, y + 0.5, xmin=0, xmax=(budget - low) / (high - low),
                       color="#e9f1e4", lw=0)
            ax.plot([budget, budget], [y - 0.5, y + 0.5], color=BUDGET, lw=1.6)
            for r in found:
                marker = MODELS.get(r["model"], ("D", r["model"]))[0]
                colour = OVER if r["ratio"] > budget else WITHIN
                ax.plot(r["ratio"], y, marker=marker, ms=7, color=colour, mec="white",
                        mew=0.6, ls="none")
            labels.append((y, row_label(mode, call)))
            y -= 1
        y -= 0.3
    ax.set_yticks([p for p, _ in labels], [t for _, t in labels])
    ax.set_ylim(y + 0.5, 0.3)
    ax.set_xlim(low, high)
    ax.axvline(1.0, color="#999999", lw=0.8, ls=":")
    ax.set_xlabel("polymod time / fastest native time")
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    handles = [plt.Line2D([], [], marker=m, color="#555555", ls="none", ms=7, label=name)
               for m, name in MODELS.values()]
    handles += [plt.Line2D([], [], color=BUDGET, lw=1.6, label="budget"),
                plt.Line2D([], [], marker="o", color=OVER, ls="none", ms=7, label="over")]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=11,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)


def _us(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def table(data: dict[str, Any]) -> str:
    """µs per call of the Sequential MLP, and the two ratios, as a Markdown table."""
    rows = [r for r in data["rows"] if r["model"] == TABLE_MODEL]
    lines = ["| backend, mode | native module | bare ops | polymod | ratio "
             "| `value_and_grad` ratio |", "|---|---:|---:|---:|---:|---:|"]
    for backend in data["config"]["backends"]:
        for mode in dict.fromkeys(r["mode"] for r in rows):
            found = {r["polymod_call"]: r for r in rows
                     if r["backend"] == backend and r["mode"] == mode}
            if "polymod" not in found:
                continue
            r = found["polymod"]
            vag = found.get("pm.value_and_grad")
            mark = " (over)" if r["status"] == "OVER" else ""
            vag_cell = ""
            if vag:
                vag_cell = f"{vag['ratio']:.2f}" + (" (over)" if vag["status"] == "OVER" else "")
            kind, batch = mode.split(" b")
            lines.append(f"| {backend}, {MODE_LABELS[kind]} b{batch} | {_us(r['us_native'])} | "
                         f"{_us(r['us_ops'])} | {_us(r['us_polymod'])} | "
                         f"{r['ratio']:.2f}{mark} | {vag_cell} |")
    config = data["config"]
    versions = "; ".join(v if v.startswith(b) else f"{b} {v}"
                         for b, v in config.get("versions", {}).items())
    lines += ["", f"One run: {config.get('rounds')} alternating rounds, one thread, "
                  f"{config.get('cpus')} CPUs, Python {config.get('python')}; {versions}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path, help="output of benchmarks/bench.py --json")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for ratios.svg and table.md (default: the JSON's)")
    args = parser.parse_args(argv)
    data = load(args.json)
    out = args.out or args.json.parent
    out.mkdir(parents=True, exist_ok=True)
    draw(data, out / "ratios.svg")
    (out / "table.md").write_text(table(data), encoding="utf-8")
    print(f"wrote {out / 'ratios.svg'} and {out / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
