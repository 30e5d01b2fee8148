"""The reports of ``polymod compare``: the rich table in a terminal, the HTML page in a browser.

The HTML test renders the page in headless Chromium (Debian's ``chromium``; no driver
needed: ``--screenshot``) and skips, with the reason, where no browser is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import polymod as pm
from polymod import nn, registry
from polymod.compare import compare
from polymod.compare.html import render_html, write_html
from polymod.compare.report import plain_table, print_rich_table

FRAMEWORKS = [b for b in registry.FRAMEWORKS if registry.is_installed(b)]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


class Skewed(pm.Module):
    """A small network whose middle activations are 1e-3 off on the last framework: the
    first submodule output that differs is `last`'s."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(6, 8)
        self.middle = nn.Linear(8, 8)
        self.last = nn.Linear(8, 3)

    def forward(self, x):
        h = self.middle(pm.ops.relu(self.first(x)))
        if pm.backend_of(h) == FRAMEWORKS[-1]:
            h = h * 1.001
        return self.last(pm.ops.tanh(h))


@pytest.fixture(scope="module")
def records() -> list:
    x = np.random.default_rng(0).random((2, 6), dtype=np.float32)
    return compare(Skewed, x, name="skewed", trace=True, grads=False)


def test_plain_and_rich_tables(records: list) -> None:
    import io

    text = plain_table(records)
    assert "DIFFERS at last" in text and "\x1b[" not in text
    rich_out = io.StringIO()
    print_rich_table(records, rich_out, width=200)
    assert "DIFFERS at last" in rich_out.getvalue()


def test_html_is_self_contained(records: list, tmp_path: Path) -> None:
    page = render_html(records, "polymod compare skewed")
    assert page.count("data:image/png;base64,") == 1
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched
    assert "DIFFERS at last" in page
    write_html(str(tmp_path / "r.html"), records)
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temp file left


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def test_html_renders_in_a_headless_browser(records: list, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip("no headless browser installed (Debian: apt-get install -y chromium)")
    report = tmp_path / "report.html"
    write_html(str(report), records)
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1280,900", report.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), result.stderr[-2000:]
    from matplotlib import image

    pixels = image.imread(str(shot))
    assert pixels.shape[:2] == (900, 1280)
    # the page drew something: a white background with text, a table and the plot
    assert pixels[..., :3].std() > 0.05
    assert (pixels[..., :3].mean(axis=-1) < 0.5).mean() > 0.005  # dark pixels: text, lines


def test_the_cli_draws_a_rich_table_in_a_terminal(tmp_path: Path) -> None:
    # a pseudo-terminal makes sys.stdout.isatty() true, as in a user's shell
    import pty

    code = ("import sys; from polymod.cli import main; sys.exit(main(["
            "'compare', 'polymod.examples.chapter:MLP', '--backends', "
            f"'{FRAMEWORKS[0]}', '--no-grads', '--no-timing', '-q']))")
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", code], stdout=follower,
                               stderr=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "160",
                                                            "TERM": "xterm-256color"})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    os.close(leader)
    out = b"".join(chunks).decode(errors="replace")
    assert process.returncode == 0, out
    assert "\x1b[" in out  # colour
    assert "━" in out or "─" in out  # rich's rules
    assert "ok" in out and "agree, 0 disagree" in out
