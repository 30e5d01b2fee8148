"""The training demo and the multi-process examples (torch DDP, Keras multi-worker), run
as scripts are run."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest

import polymod as pm
from polymod import registry

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "docs", "examples")


def load(name: str) -> dict:
    sys.path.insert(0, EXAMPLES)
    try:
        return runpy.run_path(os.path.join(EXAMPLES, name))
    finally:
        sys.path.remove(EXAMPLES)


def test_digits_demo_reaches_95_percent_everywhere(capsys: pytest.CaptureFixture) -> None:
    demo = load("train_digits.py")
    results = demo["main"](["--epochs", "15"])
    frameworks = [b for b in registry.FRAMEWORKS if registry.is_installed(b)]
    assert len(results) == 2 * len(frameworks)  # polymod loop + native tools each
    for name, acc in results.items():
        assert acc >= 0.95, f"{name}: {acc:.2%}"
    captured = capsys.readouterr()
    assert "test accuracy" in captured.out
    assert "15/15 epochs" in captured.err  # the progress bar


def test_polymod_loop_is_the_same_on_every_backend() -> None:
    demo = load("train_digits.py")
    accuracies = {b: demo["train_polymod"](b, 4, 0.01, 64) for b in registry.FRAMEWORKS
                  if registry.is_installed(b)}
    assert len(set(accuracies.values())) == 1, accuracies


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_digits_run_resumed_from_its_checkpoint_ends_bit_identical(backend, tmp_path) -> None:
    demo = load("train_digits.py")
    whole = demo["fit_polymod"](backend, 4, 0.01, 64)
    checkpoint = str(tmp_path / "digits.safetensors")
    demo["fit_polymod"](backend, 4, 0.01, 64, checkpoint, stop_after=2)
    resumed = demo["fit_polymod"](backend, 4, 0.01, 64, checkpoint)
    for name, value in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value, err_msg=name)


def test_ddp_two_processes_match_one(tmp_path) -> None:
    # A subprocess: torch.multiprocessing must import the script's worker by module name.
    script = os.path.join(EXAMPLES, "ddp_train.py")
    result = subprocess.run([sys.executable, script, "--steps", "10", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    diffs = dict(re.findall(r"^(.*?)\s+max \|w - single process\| = (\S+)$", result.stdout,
                            re.M))
    assert set(diffs) == {"single process", "rank 0", "rank 1"}
    assert all(float(d) <= 1e-6 for d in diffs.values()), diffs
    rank0 = pm.io.read(tmp_path / "rank0.safetensors")
    rank1 = pm.io.read(tmp_path / "rank1.safetensors")
    for key in rank0:  # both ranks hold identical weights
        np.testing.assert_array_equal(rank0[key], rank1[key])


@pytest.mark.skipif(not registry.is_installed("jax"), reason="jax is not installed")
def test_jax_distributed_two_processes_match_one(tmp_path) -> None:
    script = os.path.join(EXAMPLES, "jax_distributed_train.py")
    result = subprocess.run([sys.executable, script, "--steps", "10", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    diffs = dict(re.findall(r"^(.*?)\s+max \|w - single process\| = (\S+)$", result.stdout,
                            re.M))
    assert set(diffs) == {"single process", "rank 0", "rank 1"}
    assert all(float(d) <= 1e-6 for d in diffs.values()), diffs
    rank0 = pm.io.read(tmp_path / "rank0.safetensors")
    rank1 = pm.io.read(tmp_path / "rank1.safetensors")
    for key in rank0:  # both ranks hold identical weights
        np.testing.assert_array_equal(rank0[key], rank1[key])


def test_keras_multiworker_two_processes_match_one(tmp_path) -> None:
    """2 workers (TF_CONFIG on 127.0.0.1), MultiWorkerMirroredStrategy, a custom loop on
    the Keras twin: both end with the weights of one process on the full batch."""
    script = os.path.join(EXAMPLES, "keras_multiworker_train.py")
    result = subprocess.run([sys.executable, script, "--steps", "10", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    diffs = dict(re.findall(r"^(.*?)\s+max \|w - single process\| = (\S+)$", result.stdout,
                            re.M))
    assert set(diffs) == {"single process", "worker 0", "worker 1"}
    assert all(float(d) <= 1e-6 for d in diffs.values()), diffs
    worker0 = pm.io.read(tmp_path / "worker0.safetensors")
    worker1 = pm.io.read(tmp_path / "worker1.safetensors")
    for key in worker0:  # the strategy keeps both workers' variables identical
        np.testing.assert_array_equal(worker0[key], worker1[key])
