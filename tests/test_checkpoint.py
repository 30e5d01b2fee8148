"""pm.save_checkpoint / pm.load_checkpoint: a resumed run continues exactly.

Interrupted at step k and resumed into fresh (lazy, unbound) objects, a run ends with
bit-identical weights on the same backend, and within float32 rounding on another.
A training process killed with SIGKILL while writing a checkpoint leaves the previous
one intact, and resuming from it ends as the uninterrupted run does.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import polymod as pm
from polymod import nn, registry

sys.path.insert(0, os.path.dirname(__file__))
import checkpoint_worker as worker  # noqa: E402

FRAMEWORKS = pytest.mark.backends(*registry.FRAMEWORKS)
STEPS, K, WIDTH = 10, 4, 32


def _run(backend, path, save_at=None, resume=False):
    """The worker's training on ``backend``; returns the final weights."""
    pm.seed(0)
    net = worker.make_model(WIDTH)
    opt, sched = worker.make_training(net, STEPS)
    start = 0
    if resume:
        pm.seed(12345)  # a wrong generator state: the checkpoint must restore it
        start = pm.load_checkpoint(path, net, opt, sched)
        assert start == K and net.backend is None  # lazy shapes came from the file
    if save_at is not None:
        worker.train(net, opt, sched, 0, save_at, backend)
        pm.save_checkpoint(path, net, opt, sched, step=save_at)
        start = save_at
    worker.train(net, opt, sched, start, STEPS, backend)
    return net.state_dict(), opt, sched


@FRAMEWORKS
def test_interrupted_and_resumed_run_is_bit_identical(backend, tmp_path):
    path = str(tmp_path / "ckpt.safetensors")
    uninterrupted, opt, sched = _run(backend, path, save_at=K)
    resumed, opt2, sched2 = _run(backend, path, resume=True)
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
    assert opt2.steps == opt.steps == STEPS
    assert sched2.get_last_lr() == sched.get_last_lr()


@pytest.mark.parametrize("source", registry.FRAMEWORKS)
def test_resumed_on_another_backend_agrees_to_float32_rounding(source, tmp_path):
    # the next installed framework in the registry, round (each backend's checkpoint read
    # by another)
    here = [name for name in registry.FRAMEWORKS if registry.is_installed(name)]
    target = here[(here.index(source) + 1) % len(here)] if source in here else source
    for name in (source, target):
        if not registry.is_installed(name):
            pytest.skip(f"{name} is not installed")
    path = str(tmp_path / "ckpt.safetensors")
    uninterrupted, _, _ = _run(source, path, save_at=K)
    pm.seed(0)
    net = worker.make_model(WIDTH)
    opt, sched = worker.make_training(net, STEPS)
    assert pm.load_checkpoint(path, net, opt, sched) == K
    worker.train(net, opt, sched, K, STEPS, target)
    assert net.backend == target
    for name, value in uninterrupted.items():
        np.testing.assert_allclose(net.state_dict()[name], value, rtol=1e-4, atol=1e-6,
                                   err_msg=name)


def test_checkpoint_holds_everything_in_one_safetensors_file(tmp_path):
    path = str(tmp_path / "ckpt.safetensors")
    _run("torch", path, save_at=K)
    safetensors = pytest.importorskip("safetensors.numpy")
    tensors = safetensors.load_file(path)  # a plain safetensors file for other tools
    assert {n for n in tensors if n.startswith("model/")} == {
        f"model/{n}" for n in ("0.weight", "0.bias", "3.weight", "3.bias", "5.weight",
                               "5.bias")}
    assert "optimizer/0/exp_avg" in tensors and "optimizer/5/exp_avg_sq" in tensors
    assert not glob.glob(str(tmp_path / ".polymod-*"))  # no temporary file left


def test_a_bad_checkpoint_changes_nothing(tmp_path):
    path = str(tmp_path / "ckpt.safetensors")
    _run("torch", path, save_at=K)
    pm.seed(7)
    net = nn.Sequential(nn.Linear(16, 3))  # another model
    opt = pm.optim.AdamW(net)
    before, rng = net.state_dict(), pm.random.generator().bit_generator.state
    with pytest.raises(pm.WeightsFileError, match="missing '0.weight'|unexpected"):
        pm.load_checkpoint(path, net, opt)
    assert opt.state == {} and pm.random.generator().bit_generator.state == rng
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])

    right = worker.make_model(WIDTH)
    with pytest.raises(pm.WeightsFileError, match="holds AdamW; received a SGD"):
        pm.load_checkpoint(path, right, pm.optim.SGD(right))
    sgd = pm.optim.SGD(right)
    with pytest.raises(pm.WeightsFileError, match="holds CosineAnnealingLR; received a StepLR"):
        pm.load_checkpoint(path, right, None, pm.optim.lr_scheduler.StepLR(sgd, 2))
    assert not any(p.materialized for _, p in right.named_parameters())  # still lazy

    weights = str(tmp_path / "weights.safetensors")
    pm.save(nn.Linear(2, 2), weights)
    with pytest.raises(pm.WeightsFileError, match="not a checkpoint .* use pm.load"):
        pm.load_checkpoint(weights, nn.Linear(2, 2))


def test_model_only_and_lazy_refusal(tmp_path):
    path = str(tmp_path / "ckpt.safetensors")
    with pytest.raises(pm.UninitializedParameterError, match="still lazy"):
        pm.save_checkpoint(path, nn.LazyLinear(3))  # as pm.save refuses it
    net = nn.Linear(3, 2).to("torch")
    pm.save_checkpoint(path, net, step=7)
    other = nn.Linear(3, 2)
    assert pm.load_checkpoint(path, other) == 7
    np.testing.assert_array_equal(other.state_dict()["weight"], net.state_dict()["weight"])
    with pytest.raises(pm.WeightsFileError, match="holds no optimizer"):
        pm.load_checkpoint(path, other, pm.optim.SGD(other))


def _wait_for(predicate, process, timeout=300.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the worker ended first:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.001)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_sigkill_during_a_checkpoint_write_resumes_from_the_previous_one(tmp_path):
    script = os.path.join(os.path.dirname(__file__), "checkpoint_worker.py")
    # 2048 wide: each checkpoint writes ~200 MB, so the write takes long enough to hit
    args = ["--steps", "12", "--every", "2", "--width", "2048"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    clean.mkdir()
    killed.mkdir()
    done = subprocess.run([sys.executable, script, str(clean), *args], capture_output=True,
                          text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    process = subprocess.Popen([sys.executable, script, str(killed), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env)
    checkpoint = killed / "ckpt.safetensors"
    temporary = str(killed / ".polymod-*.tmp")
    _wait_for(checkpoint.exists, process)  # the first checkpoint is complete
    _wait_for(lambda: bool(glob.glob(temporary)), process)  # the next one is being written
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert glob.glob(temporary), "the kill came after the write finished"
    assert not (killed / "final.safetensors").exists()
    # Killed between creating its temp file and writing to it, the worker leaves an empty
    # file, which a save leaves alone while it is younger than MIN_EMPTY_AGE_S (it may be
    # a live writer's, between creating and locking it). A real restart comes later
    # than a fast resumed run here, which finished within that time once (CI, 2026-12-02).
    orphans = glob.glob(temporary)
    age = time.time() - max(os.stat(name).st_mtime for name in orphans)
    time.sleep(max(0.0, pm.io.atomic.MIN_EMPTY_AGE_S - age + 0.1))

    resumed = subprocess.run([sys.executable, script, str(killed), *args, "--resume"],
                             capture_output=True, text=True, timeout=900, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    start = int(resumed.stdout.split("start ")[1].split()[0])
    assert start in (2, 4, 6, 8, 10)
    assert not glob.glob(temporary)  # the next save removed the dead process's file
    expected = pm.io.read(clean / "final.safetensors")
    got = pm.io.read(killed / "final.safetensors")
    assert set(got) == set(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
