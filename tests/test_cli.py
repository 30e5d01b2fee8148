"""The `polymod` command, run as a user runs it (subprocess).

Every case of issue 12 item 16 is here: an empty framework list, ``FILE.py:FACTORY``
with a dataclass, huge/negative/NaN numbers, ``sys.exit`` in a factory, a closed pipe,
a full disk, a bad ``POLYMOD_BACKEND``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import needs

from polymod import registry
from polymod.examples import chapter

FRAMEWORKS = [b for b in registry.FRAMEWORKS if registry.is_installed(b)]


def run_cli(*args: str, cwd: str | None = None, env: dict | None = None,
            stdout: int | None = None) -> subprocess.CompletedProcess:
    pipes = {"capture_output": True} if stdout is None else {"stdout": stdout,
                                                             "stderr": subprocess.PIPE}
    return subprocess.run([sys.executable, "-m", "polymod", *args], text=True, cwd=cwd,
                          timeout=600, env={**os.environ, **(env or {})}, **pipes)


def one_line_error(result: subprocess.CompletedProcess, status: int = 2) -> str:
    assert result.returncode == status, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("polymod")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def chapter_json() -> list[dict]:
    result = run_cli("compare", "--json", "--no-timing", "-q")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_compare_covers_every_listing_on_every_backend(chapter_json: list[dict]) -> None:
    seen = {(r["model"], r["backend"]) for r in chapter_json}
    for name in chapter.LISTINGS:
        for backend in ("numpy", *FRAMEWORKS):
            assert (name, backend) in seen


def test_compare_json_schema(chapter_json: list[dict]) -> None:
    keys = {"model", "backend", "mode", "reference", "output_shape", "outputs",
            "max_abs_diff", "max_rel_diff", "grad_reference", "grad_max_abs_diff",
            "grad_max_rel_diff", "grad_failures", "us_per_call", "seconds", "ok", "error",
            "first_divergence", "divergence", "trace"}
    for record in chapter_json:
        assert set(record) == keys
        assert record["ok"] is True and record["mode"] == "eval"
        if record["backend"] != "numpy":
            assert record["reference"] == "numpy"
            assert record["max_rel_diff"] < 1e-5
            assert [leaf["name"] for leaf in record["outputs"]] == ["out"]
        if record["grad_reference"] is not None:
            assert record["grad_max_rel_diff"] < 1e-5
    shapes = {r["model"]: r["output_shape"] for r in chapter_json}
    assert shapes["MLP"] == [2, 10] and shapes["FixedHiddenMLP"] == []


def test_compare_table_and_progress() -> None:
    result = run_cli("compare", "--backends", "torch", "--no-grads")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "us/call" in result.stdout and "chimera" in result.stdout
    assert "agree, 0 disagree" in result.stdout and "eval mode" in result.stdout
    assert "\x1b[" not in result.stdout  # piped: plain text, no colour codes
    assert "[1/" in result.stderr  # progress goes to stderr


@needs("torch", "gluon")
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


DRIFT = textwrap.dedent("""
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
""")


def test_compare_exits_1_on_disagreement_and_names_the_submodule(tmp_path) -> None:
    (tmp_path / "bad.py").write_text(DRIFT)
    result = run_cli("compare", "bad:make", "--input-shape", "2,6", "--json",
                     "--backends", "torch,keras", cwd=str(tmp_path))
    assert result.returncode == 1
    records = {r["backend"]: r for r in json.loads(result.stdout)}
    assert records["torch"]["ok"] and not records["keras"]["ok"]
    assert records["keras"]["first_divergence"] == "1"
    assert records["keras"]["divergence"]["event"] == "1"


@needs("torch", "gluon")
def test_compare_inputs_from_a_function_mode_and_trace(tmp_path) -> None:
    # A real model's call: integer ids and a mask as keyword inputs, dropout in train mode.
    (tmp_path / "tiny_bert.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass
        from polymod.examples import bert
        def make():
            return bert.BertModel(hidden_size=16, num_attention_heads=2, intermediate_size=32,
                                  vocab_size=50, max_position_embeddings=16)
        def inputs():
            return bert.bert_inputs(2, 6, vocab_size=50)
    """))
    result = run_cli("compare", "tiny_bert.py:make", "--inputs", "tiny_bert.py:inputs",
                     "--mode", "train", "--trace", "--json", "--no-timing", "-q",
                     "--backends", "torch,gluon", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    records = json.loads(result.stdout)
    torch_record = records[1]
    assert torch_record["mode"] == "train"
    assert [leaf["name"] for leaf in torch_record["outputs"]] == [
        "out['last_hidden_state']", "out['pooler_output']"]
    events = [entry["event"] for entry in torch_record["trace"]]
    assert "embeddings.dropout" in events and "encoder.layer.1.attention.self" in events
    assert all(entry["ok"] for entry in torch_record["trace"])


def test_compare_html_report(tmp_path) -> None:
    (tmp_path / "bad.py").write_text(DRIFT)
    report = tmp_path / "report.html"
    result = run_cli("compare", "bad:make", "--input-shape", "2,6", "--backends", "keras",
                     "--html", str(report), "--no-timing", cwd=str(tmp_path))
    assert result.returncode == 1
    page = report.read_text()
    assert "data:image/png;base64," in page and "DIFFERS at 1" in page
    assert "http://" not in page and "https://" not in page  # opens with no network
    assert f"HTML report: {report}" in result.stderr


def test_reference_failure_is_reported_and_frameworks_still_compared(tmp_path) -> None:
    (tmp_path / "noref.py").write_text(textwrap.dedent("""
        import polymod as pm
        from polymod import nn
        class NoReference(pm.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(4, 2)
            def forward(self, X):
                if pm.backend_of(X) == "numpy":
                    raise RuntimeError("no reference today")
                return self.lin(X)
        def make():
            return NoReference()
    """))
    result = run_cli("compare", "noref:make", "--input-shape", "2,4", "--backends",
                     "torch,keras", "--no-timing", "-q", cwd=str(tmp_path))
    assert result.returncode == 1
    assert "ERROR (reference)" in result.stdout
    assert "numpy (the reference) failed: RuntimeError: no reference today" in result.stdout
    assert "ok (vs torch)" in result.stdout


def test_timeout_per_model_is_an_error_row(tmp_path) -> None:
    (tmp_path / "slow.py").write_text(textwrap.dedent("""
        import time
        import polymod as pm
        class Slow(pm.Module):
            def forward(self, X):
                time.sleep(30)
                return X
        def make():
            return Slow()
    """))
    result = run_cli("compare", "slow:make", "--input-shape", "2,4", "--backends", "torch",
                     "--timeout", "0.5", "--no-timing", "--json", "-q", cwd=str(tmp_path))
    assert result.returncode == 1
    errors = [r["error"] for r in json.loads(result.stdout)]
    assert all(e.startswith("TimeoutError: stopped after 0.5 s") for e in errors), errors


# -- issue 12, item 16 -------------------------------------------------------------------
@pytest.mark.parametrize("backends", ["numpy", ",", " , numpy"])
def test_an_empty_framework_list_is_a_usage_error(backends: str) -> None:
    line = one_line_error(run_cli("compare", "--backends", backends))
    assert "--backends names no framework to compare with the NumPy reference" in line


def test_a_file_target_is_imported_as_a_registered_module_with_its_folder_on_the_path(
        tmp_path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "helpers.py").write_text("WIDTH = 5\n")
    (folder / "with_dataclass.py").write_text(textwrap.dedent("""
        from __future__ import annotations
        from dataclasses import dataclass
        from helpers import WIDTH
        from polymod import nn

        @dataclass
        class Config:
            width: int = WIDTH

        def make():
            return nn.Linear(4, Config().width)
    """))
    result = run_cli("compare", "models/with_dataclass.py:make", "--input-shape", "2,4",
                     "--backends", "torch", "--json", "-q", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)[1]["output_shape"] == [2, 5]


@pytest.mark.parametrize("args, message", [
    (["nosuchmodule_xyz:make"], "Cannot import 'nosuchmodule_xyz'"),
    (["polymod.examples.chapter:nothing"], "has no attribute 'nothing'"),
    (["just_a_module"], "expects MODULE:FACTORY"),
    (["missing_file.py:make"], "no such file"),
    (["--input-shape", "2,abc"], "--input-shape expects"),
    (["--backends", "theano"], "Unknown backend 'theano'"),
    (["--input-shape", "4,x"], "--input-shape expects"),
    (["--input-shape", "4,0"], "--input-shape expects"),
    (["--input-shape", "1000000000,20"], "at most 268,435,456"),
    (["--input-shape", "2," + "9" * 20], "--input-shape expects"),
    (["--input-shape", ",".join(["1"] * 34)], "at most 32 are possible"),
    (["--seed", "-1"], "--seed expects an integer from 0"),
    (["--seed", "1e3"], "--seed expects an integer"),
    (["--rtol", "nan"], "--rtol expects a finite number"),
    (["--rtol", "-1"], "--rtol expects a finite number from 0"),
    (["--atol", "inf"], "--atol expects a finite number"),
    (["--timeout", "0"], "--timeout expects a finite number"),
    (["--mode", "training"], "invalid choice: 'training'"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--inputs", "polymod.examples.bert:bert_inputs", "--input-shape", "2,3"],
     "--inputs and --input-shape both"),
    (["--inputs", "polymod.examples.chapter:sequential_mlp"], "expected NumPy arrays"),
    (["--html", "/no/such/folder/report.html"], "does not exist"),
    (["polymod.examples.chapter:INPUT_SHAPE"], "not a callable"),
    (["polymod.ops:zeros_like"], "failed when called with no arguments"),
    (["polymod.examples.datasets:load_digits"],
     "expected a zero-argument factory returning a polymod Module"),
])
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    line = one_line_error(run_cli("compare", *args))
    assert line.startswith("polymod compare: error: ") and message in line, line


def test_a_factory_calling_sys_exit_is_an_error_row(tmp_path) -> None:
    (tmp_path / "quitter.py").write_text(textwrap.dedent("""
        import sys
        def make():
            sys.exit(0)
    """))
    result = run_cli("compare", "quitter:make", "--backends", "torch", "--no-timing",
                     cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stdout.count("ERROR") == 2
    assert "the model called sys.exit(0)" in result.stdout


def test_a_closed_pipe_is_quiet() -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written (`| head -c 0`)
    try:
        result = run_cli("compare", "polymod.examples.chapter:MLP", "--backends", "torch",
                         "--no-grads", "--no-timing", "-q", stdout=write)
    finally:
        os.close(write)
    assert result.returncode == 0
    assert result.stderr == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_write_failure_is_one_line() -> None:
    with open("/dev/full", "w") as full:
        result = run_cli("info", stdout=full.fileno())
    line = one_line_error(result)
    assert "cannot write the output" in line and "No space left on device" in line


def test_a_bad_polymod_backend_is_one_line() -> None:
    line = one_line_error(run_cli("info", env={"POLYMOD_BACKEND": "theano"}))
    assert line.startswith("polymod info: error: POLYMOD_BACKEND='theano'")


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


def test_the_docs_bert_with_a_slip_is_traced_to_its_gelu() -> None:
    # docs/compare.md's example, run as the page runs it (from the repository root)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = "docs/examples/bert_compare.py"
    result = run_cli("compare", f"{target}:make_with_a_slip", "--inputs", f"{target}:inputs",
                     "--json", "-q", "--no-timing", cwd=root)
    assert result.returncode == 1, result.stderr[-3000:]
    records = {r["backend"]: r for r in json.loads(result.stdout)}
    assert records["keras"]["divergence"]["event"] == (
        "encoder.layer.0.intermediate.intermediate_act_fn")
    assert all(r["ok"] for b, r in records.items() if b != "keras")
