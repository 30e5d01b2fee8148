"""The `polymod` command, run as a user runs it (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from polymod import registry
from polymod.examples import chapter


def run_cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "polymod", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def chapter_json() -> list[dict]:
    result = run_cli("compare", "--json", "--no-timing")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_compare_covers_every_listing_on_every_backend(chapter_json: list[dict]) -> None:
    seen = {(r["model"], r["backend"]) for r in chapter_json}
    for name in chapter.LISTINGS:
        for backend in registry.NAMES:
            assert (name, backend) in seen


def test_compare_json_schema(chapter_json: list[dict]) -> None:
    keys = {"model", "backend", "output_shape", "max_abs_diff", "max_rel_diff",
            "grad_max_abs_diff", "us_per_call", "ok", "error", "first_divergence"}
    for record in chapter_json:
        assert set(record) == keys
        assert record["ok"] is True
        if record["backend"] != "numpy":
            assert record["max_abs_diff"] < 1e-5
            assert record["grad_max_abs_diff"] < 1e-5
    shapes = {r["model"]: r["output_shape"] for r in chapter_json}
    assert shapes["MLP"] == [2, 10] and shapes["FixedHiddenMLP"] == []


def test_compare_table_and_progress() -> None:
    result = run_cli("compare", "--backends", "torch", "--no-grads")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "us/call" in result.stdout and "chimera" in result.stdout
    assert "agree, 0 disagree" in result.stdout
    assert "[1/" in result.stderr  # progress goes to stderr


def test_compare_user_factory(tmp_path) -> None:
    (tmp_path / "mymodels.py").write_text(textwrap.dedent("""
        from polymod import nn
        def make():
            return nn.Sequential(nn.LazyLinear(8), nn.Tanh(), nn.LazyLinear(3))
    """))
    result = run_cli("compare", "mymodels:make", "--input-shape", "4,6", "--json",
                     "--backends", "torch,gluon", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    records = json.loads(result.stdout)
    assert [r["backend"] for r in records] == ["numpy", "torch", "gluon"]
    assert all(r["output_shape"] == [4, 3] for r in records)


def test_compare_exits_1_on_disagreement(tmp_path) -> None:
    (tmp_path / "bad.py").write_text(textwrap.dedent("""
        import polymod as pm
        from polymod import nn
        class Drift(pm.Module):
            def __init__(self):
                super().__init__()
                self.inner = nn.Linear(6, 3)
            def forward(self, X):
                out = self.inner(X)
                return out + 1.0 if pm.backend_of(out) == "keras" else out
        def make():
            return nn.Sequential(nn.Linear(6, 6), Drift())
    """))
    result = run_cli("compare", "bad:make", "--input-shape", "2,6", "--json",
                     "--backends", "torch,keras", cwd=str(tmp_path))
    assert result.returncode == 1
    records = {r["backend"]: r for r in json.loads(result.stdout)}
    assert records["torch"]["ok"] and not records["keras"]["ok"]
    assert records["keras"]["first_divergence"] == "1"


@pytest.mark.parametrize("args, message", [
    (["nosuchmodule_xyz:make"], "Cannot import 'nosuchmodule_xyz'"),
    (["polymod.examples.chapter:nothing"], "has no attribute 'nothing'"),
    (["just_a_module"], "Expected MODULE:FACTORY"),
    (["--input-shape", "2,abc"], "--input-shape expects"),
    (["--backends", "theano"], "Unknown backend 'theano'"),
    (["--input-shape", "4,x"], "--input-shape expects"),
    (["--input-shape", "4,0"], "--input-shape expects"),
    (["--rtol", "-1"], "--rtol must be >= 0"),
    (["polymod.examples.chapter:INPUT_SHAPE"], "not a callable factory"),
    (["polymod.ops:zeros_like"], "failed when called with no arguments"),
    (["polymod.examples.datasets:load_digits"], "expected a zero-argument factory returning a polymod Module"),
])
def test_compare_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = run_cli("compare", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_info_lists_backends_and_versions() -> None:
    result = run_cli("info")
    assert result.returncode == 0
    for name in registry.NAMES:
        assert name in result.stdout
    assert "2.13.0" in result.stdout


def test_console_script_is_installed() -> None:
    script = os.path.join(os.path.dirname(sys.executable), "polymod")
    result = subprocess.run([script, "info"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
