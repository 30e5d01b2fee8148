"""The README's two set-up commands, and CI running exactly the test one."""

from __future__ import annotations

import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..")


def setup_commands() -> list[str]:
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", quick, re.S)]


def test_readme_has_two_setup_commands() -> None:
    commands = setup_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert commands[0].endswith("polymod compare")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = f.read()
    assert setup_commands()[1] in ci.splitlines()


def test_torch_is_pinned() -> None:
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        pyproject = f.read()
    assert '"torch==2.13.0"' in pyproject
    assert "numpy>=1.23,<2" in pyproject
