"""benchmarks/optim_step.py runs (tiny configuration); speed itself is never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import polymod as pm
from polymod import registry

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "optim_step.py"
FRAMEWORKS = [b for b in registry.FRAMEWORKS if b in pm.available_backends()]


@pytest.mark.skipif(not FRAMEWORKS, reason="no framework backend installed")
def test_quick_optimizer_benchmark_runs_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "optim.json"
    env = {k: v for k, v in os.environ.items() if k not in ("POLYMOD_BACKEND", "KERAS_BACKEND")}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out),
                           "--backends", ",".join(FRAMEWORKS)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    data = json.loads(out.read_text())
    assert set(data) == {"config", "optim_target_ratio", "optim_steps", "optim_checkpoint"}
    rows = data["optim_steps"]
    assert {(r["backend"], r["rule"]) for r in rows} == {
        (b, rule) for b in FRAMEWORKS for rule in ("SGD", "SGD momentum", "Adam", "AdamW",
                                                   "RMSprop")}
    for r in rows:
        if r["status"].startswith("n/a"):
            assert r["backend"] == "gluon" and r["rule"] == "AdamW"  # MXNet has none
            continue
        assert r["us_polymod"] > 0 and r["us_native"] > 0 and r["ratio"] > 0, r
        assert r["status"] in ("PASS", "OVER")
    checkpoints = {r["backend"]: r for r in data["optim_checkpoint"]}
    assert set(checkpoints) == set(FRAMEWORKS)
    for r in checkpoints.values():
        assert "error" not in r, r
        assert r["save_seconds"] > 0 and r["load_seconds"] > 0 and r["file_mb"] > 0
