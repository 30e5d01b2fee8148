"""Draws docs/assets/images/compare-report.png: the HTML report of `polymod compare` on the
BERT of docs/compare.md that has a slip on Keras, as headless Chromium shows it.

    python benchmarks/plot_compare_report.py            # needs Debian's chromium
    python benchmarks/plot_compare_report.py --out /tmp/report.png --keep-html /tmp/r.html
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = "docs/examples/bert_compare.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs/assets/images/compare-report.png"))
    parser.add_argument("--keep-html", metavar="FILE", help="also keep the HTML page here")
    parser.add_argument("--size", default="1280,1000", help="browser window, width,height")
    args = parser.parse_args(argv)
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)
    if browser is None:
        sys.exit("no headless browser found (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as folder:
        page = Path(args.keep_html or Path(folder) / "report.html").resolve()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-m", "polymod", "compare",
                        f"{TARGET}:make_with_a_slip", "--inputs", f"{TARGET}:inputs",
                        "--html", str(page), "-q"], cwd=ROOT, env=env, check=False)
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--no-first-run",
                        f"--user-data-dir={Path(folder) / 'profile'}",
                        f"--screenshot={Path(args.out).resolve()}",
                        f"--window-size={args.size}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
