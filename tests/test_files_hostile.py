"""Hostile weights files: refused with a clear error, no large allocation, model unchanged.

polymod reads safetensors only (never pickle). Each case below is a
``pm.WeightsFileError`` naming the file; the model's state dict is the same
before and after; the load allocates little (tracemalloc, and in a fresh
process ``ru_maxrss``). A save killed with SIGKILL half-way leaves the previous
file intact; its orphaned temp file is never loadable as weights and the next
save into that folder removes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import polymod as pm
from polymod import nn

SMALL_PEAK = 2 * 2**20  # bytes: what a refused load may allocate at most


def write_raw(path: Path, header, data: bytes = b"", length: int | None = None) -> Path:
    """A file in the safetensors layout: 8-byte length, header bytes, data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def entry(dtype: str, shape: list, begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def model() -> pm.Module:
    pm.seed(0)
    return nn.Linear(3, 2)


def good_file(tmp_path: Path) -> Path:
    pm.seed(1)
    path = tmp_path / "good.safetensors"
    pm.save(nn.Linear(3, 2), path)
    return path


class Evil:
    """Unpickling this would create a marker file: polymod must never unpickle."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickle_file(tmp_path: Path) -> Path:
    Evil.marker = str(tmp_path / "PWNED")
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weight": Evil()}))
    return path


def _sparse_huge(tmp_path: Path) -> Path:
    """A *valid* file whose one tensor is 400 MB of zeros (sparse on disk), unexpected by
    the model: refused from the header, the 400 MB never read."""
    n = 100_000_000
    path = write_raw(tmp_path / "huge.safetensors", {"big": entry("F32", [n], 0, 4 * n)})
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size + 4 * n)
    return path


# name -> (make the file, words the message must contain)
CASES = {
    "truncated": (lambda t: _truncate(good_file(t)), "data_offsets"),
    "random_bytes": (lambda t: _write(t / "random.safetensors",
                                      np.random.default_rng(0).bytes(4096)), "header claims"),
    "header_length_2**60": (lambda t: write_raw(t / "h.safetensors", {}, length=2**60),
                            "header claims 1152921504606846976 bytes"),
    "offsets_beyond_file": (lambda t: write_raw(t / "o.safetensors", {
        "weight": entry("F32", [2, 3], 0, 24), "bias": entry("F32", [2**40], 24, 24 + 2**42)},
        b"\0" * 32), "outside the file"),
    "shape_vs_offsets": (lambda t: write_raw(t / "s.safetensors", {
        "weight": entry("F32", [2**30, 2**30], 0, 24), "bias": entry("F32", [2], 24, 32)},
        b"\0" * 32), "needs 4611686018427387904 bytes"),
    "negative_shape": (lambda t: write_raw(t / "n.safetensors", {
        "weight": entry("F32", [-2, 3], 0, 24)}, b"\0" * 24), "non-negative integers"),
    "wrong_dtype": (lambda t: write_raw(t / "d.safetensors", {
        "weight": entry("I64", [2, 3], 0, 48), "bias": entry("F32", [2], 48, 56)},
        b"\0" * 56), "dtype int64"),
    "unknown_dtype": (lambda t: write_raw(t / "u.safetensors", {
        "weight": entry("X9", [2, 3], 0, 24)}, b"\0" * 24), "unknown dtype 'X9'"),
    # BF16 loads (through ml_dtypes, tests/test_dtypes.py); float8 does not
    "float8": (lambda t: write_raw(t / "b.safetensors", {
        "weight": entry("F8_E4M3", [2, 3], 0, 6), "bias": entry("F32", [2], 6, 14)},
        b"\0" * 14), "NumPy cannot hold"),
    "wrong_shape": (lambda t: write_raw(t / "w.safetensors", {
        "weight": entry("F32", [3, 2], 0, 24), "bias": entry("F32", [2], 24, 32)},
        b"\0" * 32), "shape (3, 2)"),
    "duplicate_keys": (lambda t: write_raw(
        t / "dup.safetensors",
        b'{"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},'
        b'"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},'
        b'"bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}', b"\0" * 32),
        "repeats the keys ['weight']"),
    "odd_keys": (lambda t: write_raw(t / "odd.safetensors", {
        "weight": entry("F32", [2, 3], 0, 24), "bias": entry("F32", [2], 24, 32),
        "": entry("F32", [1], 32, 36), "wéight\u202e": entry("F32", [1], 36, 40)},
        b"\0" * 40), "unexpected ''"),
    "not_json": (lambda t: write_raw(t / "j.safetensors", b"{not json", b""), "not valid"),
    "not_utf8": (lambda t: write_raw(t / "x.safetensors", b"\xff\xfe{}", b""), "not valid"),
    "deep_json": (lambda t: write_raw(t / "deep.safetensors", b"[" * 100_000 + b"]" * 100_000),
                  "not valid"),
    "json_list": (lambda t: write_raw(t / "l.safetensors", [1, 2]), "not an object"),
    "empty_file": (lambda t: _write(t / "empty.safetensors", b""), "fewer than the 8-byte"),
    "directory": (lambda t: _mkdir(t / "dir.safetensors"), "directory"),
    "nonexistent": (lambda t: t / "missing.safetensors", "No such file"),
    "pickle": (_pickle_file, "header claims"),
    "huge_unexpected_tensor": (_sparse_huge, "unexpected 'big'"),
    # the same bytes named twice would let a small file make a reader allocate many times it
    "overlapping_tensors": (lambda t: write_raw(t / "ov.safetensors", {
        "weight": entry("F32", [2, 3], 0, 24), "bias": entry("F32", [2], 16, 24)},
        b"\0" * 24), "must not overlap"),
    "gap_between_tensors": (lambda t: write_raw(t / "gap.safetensors", {
        "weight": entry("F32", [2, 3], 0, 24), "bias": entry("F32", [2], 28, 36)},
        b"\0" * 36), "starts at byte 28"),
    "trailing_bytes": (lambda t: write_raw(t / "tail.safetensors", {
        "weight": entry("F32", [2, 3], 0, 24), "bias": entry("F32", [2], 24, 32)},
        b"\0" * 40), "cover 32 of the file's 40"),
}


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _state(net: pm.Module) -> dict:
    return {k: v.copy() for k, v in net.state_dict().items()}


def _assert_same_state(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_is_refused(case: str, tmp_path: Path) -> None:
    make, words = CASES[case]
    path = make(tmp_path)
    net = model().to("numpy")
    before = _state(net)
    tracemalloc.start()
    try:
        with pytest.raises(pm.WeightsFileError) as info:
            pm.load(net, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message, message
    assert words in message, message
    assert isinstance(info.value, ValueError)
    assert peak < SMALL_PEAK, f"{case}: peak {peak} bytes"
    _assert_same_state(before, _state(net))
    assert not (tmp_path / "PWNED").exists()


def test_hostile_files_leave_the_model_unchanged(backend: str, tmp_path: Path) -> None:
    for case, (make, _) in sorted(CASES.items()):
        folder = tmp_path / case
        folder.mkdir()
        path = make(folder)
        net = model()
        net(pm.ones(1, 3))  # bound to `backend`
        before = _state(net)
        with pytest.raises(pm.WeightsFileError):
            pm.load(net, path)
        _assert_same_state(before, _state(net))
        assert pm.backend_of(net(pm.ones(1, 3))) == backend


def test_read_refuses_hostile_files_too(tmp_path: Path) -> None:
    for case, (make, _) in sorted(CASES.items()):
        if case in ("wrong_dtype", "wrong_shape", "odd_keys", "huge_unexpected_tensor"):
            continue  # valid files: only loading them into this model is wrong
        folder = tmp_path / case
        folder.mkdir()
        with pytest.raises(pm.WeightsFileError):
            pm.io.read(make(folder))


def test_odd_keys_are_ignored_when_not_strict(tmp_path: Path) -> None:
    path = CASES["odd_keys"][0](tmp_path)
    net = model()
    result = pm.load(net, path, strict=False)
    assert sorted(result.unexpected_keys) == ["", "wéight\u202e"]
    np.testing.assert_array_equal(net.state_dict()["weight"], np.zeros((2, 3), np.float32))


def test_a_good_file_still_loads(tmp_path: Path) -> None:
    path = good_file(tmp_path)
    pm.seed(1)
    expected = nn.Linear(3, 2).state_dict()
    net = model()
    assert pm.load(net, path) == ([], [])
    _assert_same_state(expected, net.state_dict())


def test_no_large_allocation_in_a_fresh_process(tmp_path: Path) -> None:
    """ru_maxrss (all the allocations of the process, native ones too) barely moves."""
    paths = []
    for case, (make, _) in sorted(CASES.items()):
        folder = tmp_path / case
        folder.mkdir()
        paths.append(str(make(folder)))
    script = textwrap.dedent("""
        import json, resource, sys
        import polymod as pm
        from polymod import nn
        net = nn.Linear(3, 2)
        pm.save(net, sys.argv[1] + ".warmup")  # loads the writing and reading code first
        pm.load(net, sys.argv[1] + ".warmup")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        refused = 0
        for path in sys.argv[2:]:
            try:
                pm.load(net, path)
            except pm.WeightsFileError:
                refused += 1
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"refused": refused, "grew_kib": after - before}))
    """)
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "w"), *paths],
                         capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["refused"] == len(paths)
    assert report["grew_kib"] < 20 * 1024, report


KILLED_SAVE = textwrap.dedent("""
    import sys, time
    import polymod as pm
    from polymod import nn
    from polymod.handles import Parameter

    pm.seed(2)
    net = nn.Sequential(*[nn.Linear(1000, 1000, bias=False) for _ in range(50)])  # 200 MB
    numpy = Parameter.numpy

    def slow(self):  # widen the window: the kill lands while tensors are being written
        time.sleep(0.05)
        return numpy(self)

    Parameter.numpy = slow
    print("saving", flush=True)
    pm.save(net, sys.argv[1])
    print("saved", flush=True)
""")


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".polymod-")]


def test_a_killed_save_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    pm.seed(3)
    previous = nn.Linear(3, 2)
    pm.save(previous, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        written = 0
        while time.monotonic() < deadline and proc.poll() is None:
            temps = _temps(tmp_path)
            written = temps[0].stat().st_size if temps else 0
            if written > 20 * 2**20:  # mid-write: 20 of 200 MB on disk
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert "saved" not in out
    assert written > 20 * 2**20, "the save was not caught mid-write"

    # the previous file: byte for byte the same, and loadable
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    net = nn.Linear(3, 2)
    pm.load(net, path)
    _assert_same_state(previous.state_dict(), net.state_dict())

    # the orphan: named so no one takes it for weights, and refused if loaded anyway
    (orphan,) = _temps(tmp_path)
    assert orphan.name.endswith(".tmp") and f"-{proc.pid}@" in orphan.name
    with pytest.raises(pm.WeightsFileError):
        pm.load(nn.Sequential(*[nn.Linear(1000, 1000, bias=False) for _ in range(50)]),
                orphan)

    # the next save into the folder removes it (its process is gone)
    pm.save(nn.Linear(3, 2), tmp_path / "other.safetensors")
    assert _temps(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors",
                                                          "other.safetensors"]


@pytest.mark.skipif(os.name != "posix", reason="temp files are locked with flock (POSIX)")
def test_a_live_saver_s_temp_file_is_left_alone(tmp_path: Path) -> None:
    """Only temp files nobody holds a lock on are removed: a writer's pid means nothing
    across PID namespaces (two containers sharing a volume), its lock does."""
    host = pm.io.atomic.host()
    # a writer in "another container": a pid that does not exist here, but alive and locking
    alive = tmp_path / f".polymod-999999@{host}-abc123.tmp"
    alive.write_bytes(b"partial")
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, sys
            f = open({str(alive)!r}, "rb")
            fcntl.flock(f, fcntl.LOCK_EX)
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        other_host = tmp_path / ".polymod-999999@another.host-abc123.tmp"
        unrelated = tmp_path / ".polymod-notes.tmp"
        for p in (other_host, unrelated):
            p.write_bytes(b"partial")
        pm.save(nn.Linear(3, 2), tmp_path / "m.safetensors")
        assert alive.exists() and other_host.exists() and unrelated.exists()
    finally:
        holder.communicate(input="")
    # the writer is gone (its lock with it): the next save removes its temp file
    pm.save(nn.Linear(3, 2), tmp_path / "m.safetensors")
    assert not alive.exists() and other_host.exists() and unrelated.exists()
