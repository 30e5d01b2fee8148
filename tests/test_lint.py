"""The code base stays `ruff` clean, and each file keeps to one job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."],
                            capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stdout[-4000:]


def test_core_and_adapter_files_stay_small() -> None:
    big = {str(p.relative_to(ROOT)): n for p in [*ROOT.glob("polymod/**/*.py"),
                                                  *ROOT.glob("backends/*.py")]
           if (n := len(p.read_text().splitlines())) > 600}
    assert big == {}, f"files over 600 lines (split them by job): {big}"
