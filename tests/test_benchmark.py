"""The benchmark script runs (tiny configuration); speed itself is never asserted here."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import polymod as pm
from polymod import registry

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
BENCH = BENCHMARKS / "bench.py"
# the frameworks benchmarks/harness.py has native code for (its FRAMEWORKS; importing it
# here would pin this process to one thread)
FRAMEWORKS = [b for b in ("torch", "keras", "gluon") if b in pm.available_backends()]
# the files that run alone through the shared harness: bench.py's parts and any other
PARTS = sorted(p.name for p in BENCHMARKS.glob("*.py")
               if p.name != "harness.py" and "harness.run_alone(" in p.read_text())
NATIVE = sorted(p.name for p in BENCHMARKS.glob("native_*.py"))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("POLYMOD_BACKEND", "KERAS_BACKEND")}


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          env=_env(), timeout=timeout)


@pytest.mark.skipif(not FRAMEWORKS, reason="no framework backend installed")
def test_quick_benchmark_runs_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = _run(str(BENCH), "--quick", "--json", str(out), "--backends", ",".join(FRAMEWORKS))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    data = json.loads(out.read_text())

    rows = data["rows"]
    expected = {(model, fw, f"{mode} b{batch}")
                for model in ("sequential_mlp", "MLP", "chimera") for fw in FRAMEWORKS
                for mode in ("fwd", "fwd+bwd") for batch in (2, 1024)}
    assert {(r["model"], r["backend"], r["mode"]) for r in rows} == expected
    for r in rows:
        for key in ("us_native", "us_ops", "us_polymod", "ratio"):
            assert r[key] > 0, r
        assert r["status"] in ("PASS", "OVER")
        assert r["reference"] == "ops" or r["backend"] != "gluon"
    backward = {r["polymod_call"] for r in rows if r["mode"].startswith("fwd+bwd")}
    assert backward == {"polymod", "pm.value_and_grad"}

    conv = data["conv"]  # LeNet vs the native LeNet of each framework (no budget)
    assert {(r["model"], r["backend"], r["mode"]) for r in conv} == {
        ("LeNet", fw, f"{mode} b{batch}") for fw in FRAMEWORKS for mode in ("fwd", "fwd+bwd")
        for batch in (2, 64)}
    for r in conv:
        assert r["us_native"] > 0 and r["us_polymod"] > 0 and r["ratio"] > 0, r
        assert r["reference"] == "native" and r["us_ops"] is None
    if "keras" in FRAMEWORKS:
        layout = data["conv_layout_keras"]
        assert {r["mode"] for r in layout} == {f"{mode} b{batch}" for mode in ("fwd", "fwd+bwd")
                                               for batch in (2, 64)}
        for r in layout:
            for key in ("us_polymod", "us_keras_channels_first",
                        "us_keras_channels_last_nhwc_input"):
                assert r[key] > 0, r

    assert data["import"]["frameworks_loaded"] == []  # the subprocess asserts it too
    assert data["import"]["import_polymod_over_numpy_ms"] > 0
    transfer = data["transfer"]
    assert transfer and all("error" not in r for r in transfer), transfer
    assert {r["how"] for r in transfer} >= {"to", "save", "load"}
    graph = {r["backend"]: r for r in data["graph_modes"]}
    if "gluon" in FRAMEWORKS:
        assert graph["gluon"]["note"].startswith("n/a: cannot hybridize")
    if "keras" in FRAMEWORKS:
        assert graph["keras"]["us_polymod_twin"] > 0
    if "torch" in FRAMEWORKS and "keras" in FRAMEWORKS:
        assert data["keras_on_torch"]["rows"], data["keras_on_torch"]


def test_the_parts_are_found() -> None:
    assert {"chapter_mlp.py", "lenet.py", "peers.py", "import_time.py", "transfers.py",
            "graph_modes.py"} <= set(PARTS)
    assert {"native_chapter.py", "native_lenet.py"} <= set(NATIVE)


@pytest.mark.parametrize("part", PARTS)
def test_each_part_takes_the_common_options(part: str) -> None:
    proc = _run(str(BENCHMARKS / part), "--help", timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for option in ("--quick", "--backends", "--json", "--rounds"):
        assert option in proc.stdout, (part, option)


@pytest.mark.skipif(not FRAMEWORKS, reason="no framework backend installed")
def test_a_part_runs_alone_and_writes_only_its_json(tmp_path: Path) -> None:
    out = tmp_path / "lenet.json"
    fw = FRAMEWORKS[0]
    proc = _run(str(BENCHMARKS / "lenet.py"), "--quick", "--json", str(out), "--backends", fw)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    data = json.loads(out.read_text())
    assert set(data) == {"config", "conv"} | ({"conv_layout_keras"} if fw == "keras" else set())
    assert data["config"]["backends"] == [fw]
    assert {r["mode"] for r in data["conv"]} == {f"{mode} b{batch}" for mode in ("fwd", "fwd+bwd")
                                                 for batch in (2, 64)}
    assert "LeNet           " + fw in proc.stdout  # the table, as bench.py prints it


@pytest.mark.parametrize("native", NATIVE)
def test_native_oracles_do_not_use_polymod(native: str) -> None:
    """The hand-written references stay independent of what they measure."""
    ours = {p.stem for p in BENCHMARKS.glob("*.py")}
    tree = ast.parse((BENCHMARKS / native).read_text())
    imported = {alias.name.partition(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").partition(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert not imported & ({"polymod"} | ours), imported


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="pm.from_torch needs torch")
def test_convert_benchmark_runs_alone(tmp_path: Path) -> None:
    """benchmarks/convert.py (not in bench.py): one small model, one backend."""
    out = tmp_path / "convert.json"
    proc = _run(str(BENCHMARKS / "convert.py"), "--quick", "--models", "mlp", "--backends",
                "torch", "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    data = json.loads(out.read_text())
    assert set(data) == {"config", "convert", "convert_seconds", "convert_coverage"}
    (row,) = data["convert"]
    assert row["model"] == "mlp" and row["backend"] == "torch" and row["us_converted"] > 0
    assert data["convert_seconds"][0]["seconds"] > 0
    assert "Linear" in data["convert_coverage"]["layers"]
    assert not data["convert_coverage"]["ops_failing"]


def test_compare_cost_benchmark_runs_and_finds_the_planted_layer(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    proc = _run(str(BENCHMARKS / "compare_cost.py"), "--quick", "--models", "bert", "--json",
                str(out), timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    data = json.loads(out.read_text())
    # compare_cost.py measures every installed backend (numpy and JAX included)
    assert {row["backend"] for row in data["per_backend"]} == set(pm.available_backends())
    assert all(row["found_right"] for row in data["planted"]), data["planted"]


@pytest.mark.skipif(not registry.is_installed("jax"), reason="jax is not installed")
def test_quick_jax_benchmark_runs_alone_and_writes_json(tmp_path: Path) -> None:
    """JAX has no module system of its own: jax_bench.py measures polymod against
    hand-written pure JAX (jit and eager) and Keras 3 on JAX, outside bench.py."""
    assert "jax_bench.py" in PARTS
    out = tmp_path / "jax.json"
    proc = _run(str(BENCHMARKS / "jax_bench.py"), "--quick", "--backends", "", "--json",
                str(out), timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    data = json.loads(out.read_text())["jax"]
    assert {(r["model"], r["mode"]) for r in data["rows"]} == {
        (model, f"{kind} {direction} b{batch}") for model in ("sequential_mlp", "LeNet")
        for kind in ("jit", "eager") for direction in ("fwd", "fwd+bwd") for batch in (2,)}
    for r in data["rows"]:
        assert r["us_polymod"] > 0 and r["us_pure_jax"] > 0 and r["status"] in ("PASS", "OVER")
        # not a timing: under jax.jit polymod compiles to the hand-written function's program
        assert r["same_xla_program"] is (True if r["mode"].startswith("jit") else None), r
    assert data["keras_on_jax"]["rows"], data["keras_on_jax"]
    assert data["import"]["import_polymod_backends_jax_ms"] > 0


@pytest.mark.skipif(not FRAMEWORKS, reason="no framework backend installed")
def test_quick_real_models_benchmark_runs_alone_and_writes_json(tmp_path: Path) -> None:
    """benchmarks/real_models.py (not in bench.py): the encoder on every installed
    framework, ResNet-50 on the first (the full matrix takes minutes); the hand-written
    references compute polymod's numbers (checked by the script before timing)."""
    assert "real_models.py" in PARTS
    backends = [b for b in ("torch", "keras", "gluon", "jax") if b in pm.available_backends()]
    for model, chosen in (("bert", backends), ("resnet50", backends[:1])):
        out = tmp_path / f"{model}.json"
        proc = _run(str(BENCHMARKS / "real_models.py"), "--quick", "--models", model,
                    "--backends", ",".join(chosen), "--json", str(out), timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        data = json.loads(out.read_text())
        assert set(data) == {"config", "real_models"}
        rows = data["real_models"]["rows"]
        assert {(r["model"], r["backend"], r["mode"], r["path"]) for r in rows} == {
            (model, fw, mode, path) for fw in chosen for mode in ("eval", "train")
            for path in ("eager", "compiled") if not (fw == "torch" and path == "compiled")}
        for r in rows:
            assert r["ms_native"] > 0 and r["ms_polymod"] > 0 and r["ratio"] > 0, r
            assert r["status"] in ("PASS", "OVER") and r["native"], r
        # same architecture, same weights: checked equal; Keras' ResNet is V1
        assert all(r["checked"] for r in rows if model == "bert" or r["backend"] != "keras"), rows
