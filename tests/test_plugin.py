"""The pytest plugin (run on a throw-away test file) and the testing assertions."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import INSTALLED, installed_framework, needs

import polymod as pm
from polymod import nn, registry
from polymod.testing import assert_backends_agree, assert_close

THROWAWAY = textwrap.dedent("""
    import pytest
    import polymod as pm

    def test_every_backend(backend):
        assert pm.get_backend() == backend
        assert pm.backend_of(pm.rand(2, backend=backend)) == backend

    @pytest.mark.backends("torch", "keras")
    def test_only_some(backend):
        assert backend in ("torch", "keras")

    def test_without_fixture():
        pass
""")


def run_pytest(tmp_path, *args: str, conftest: str = "", tests: str = THROWAWAY
               ) -> tuple[int, str]:
    (tmp_path / "test_throwaway.py").write_text(tests)
    if conftest:
        (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    verbosity = [] if "-v" in args else ["-q"]
    result = subprocess.run([sys.executable, "-m", "pytest", *verbosity, "-rs", "-p", "no:randomly",
                             "-W", "ignore::DeprecationWarning", *args, str(tmp_path)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600)
    return result.returncode, result.stdout + result.stderr


def counts(output: str) -> dict[str, int]:
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|skipped|failed|error)",
                                                   output)}


def test_fixture_runs_every_backend(tmp_path) -> None:
    code, output = run_pytest(tmp_path, "-v")
    assert code == 0, output
    for name in registry.NAMES:  # a framework that is not installed here is a skip
        outcome = "PASSED" if name in INSTALLED else "SKIPPED"
        assert f"test_every_backend[{name}] {outcome}" in output
    assert "test_only_some[torch] PASSED" in output
    assert "test_only_some[numpy]" not in output
    missing = len(registry.NAMES) - len(INSTALLED)
    assert counts(output) == {"passed": len(INSTALLED) + 2 + 1,
                              **({"skipped": missing} if missing else {})}


@needs("torch", "gluon")
def test_backends_option_chooses(tmp_path) -> None:
    code, output = run_pytest(tmp_path, "-v", "--backends", "torch,mx")
    assert code == 0, output
    assert "test_every_backend[torch] PASSED" in output
    assert "test_every_backend[gluon] PASSED" in output
    assert "test_every_backend[keras]" not in output
    assert counts(output) == {"passed": 2 + 1 + 1}


def test_unknown_backend_is_a_usage_error(tmp_path) -> None:
    code, output = run_pytest(tmp_path, "--backends", "theano")
    assert code == 4  # pytest's usage-error status
    assert "Unknown backend 'theano'" in output


def test_missing_framework_is_a_skip_with_the_extra(tmp_path) -> None:
    # Pretend MXNet is not installed (the real framework stays untouched).
    code, output = run_pytest(tmp_path, conftest="""
        import polymod.registry as b
        _real = b.is_installed
        b.is_installed = lambda name: False if b.canonical_name(name) == "gluon" else _real(name)
    """)
    assert code == 0, output
    assert counts(output) == {"passed": len(registry.NAMES) - 1 + 2 + 1, "skipped": 1}
    assert "pip install 'polymod[gluon]'" in output


class Drift(pm.Module):
    """A layer that adds 1 on keras only: the deliberate disagreement."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(6, 3)

    def forward(self, X):
        out = self.inner(X)
        return out + 1.0 if pm.backend_of(out) == "keras" else out


def drifting() -> pm.Module:
    return nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Sequential(nn.Identity(), Drift()))


def test_assert_backends_agree_passes_on_chapter_model() -> None:
    from polymod.examples import chapter

    records = assert_backends_agree(chapter.chimera, pm.rand(2, 20, backend="numpy"))
    assert [r.backend for r in records] == list(INSTALLED)


def test_assert_backends_agree_names_the_diverging_submodule() -> None:
    X = pm.rand(2, 6, backend="numpy")
    with pytest.raises(AssertionError) as info:
        assert_backends_agree(drifting, X)
    message = str(info.value)
    assert ("drifting on keras: output out differs from the NumPy reference, first at "
            "submodule '2.1' (max |diff| 1") in message
    assert "torch" not in message and "gluon" not in message


@needs("gluon")
def test_assert_backends_agree_reports_a_failing_backend() -> None:
    class Broken(pm.Module):
        def forward(self, X):
            if pm.backend_of(X) == "gluon":
                raise RuntimeError("boom")
            return X

    with pytest.raises(AssertionError, match="gluon: RuntimeError: boom"):
        assert_backends_agree(Broken, pm.rand(2, 3, backend="numpy"), grads=False)


@pytest.mark.parametrize("name", list(registry.NAMES))
def test_assert_close_takes_any_backend(name: str) -> None:
    x = pm.asarray([1.0, np.nan], backend=name)
    assert_close(x, np.array([1.0, np.nan]))
    with pytest.raises(AssertionError):
        assert_close(x, np.array([1.1, np.nan]))
    with pytest.raises(AssertionError, match="Shapes differ"):
        assert_close(x, np.zeros(3))


OWN_PARAMETRIZE = textwrap.dedent("""
    import pytest
    import polymod as pm
    from polymod import nn
    from polymod.testing import assert_backends_agree

    @pytest.mark.parametrize("backend", ["mine", "yours"])
    def test_own_backend_parameter(backend):
        assert backend in ("mine", "yours")

    @pytest.mark.parametrize("x, backend", [(1, "a")])
    def test_own_backend_among_others(x, backend):
        assert backend == "a"

    def test_agree_follows_the_option():
        records = assert_backends_agree(lambda: nn.Linear(3, 2), pm.rand(2, 3, backend="numpy"))
        assert [r.backend for r in records] == ["numpy", "torch"]
""")


def test_own_parametrize_of_backend_is_left_alone_and_option_limits_agree(tmp_path) -> None:
    # Issue 12, item 14: pytest's rule is that a direct parametrization overrides a
    # fixture of the same name; and --backends also limits assert_backends_agree.
    code, output = run_pytest(tmp_path, "-v", "--backends", "torch", tests=OWN_PARAMETRIZE)
    assert code == 0, output
    assert "duplicate parametrization" not in output
    assert "test_own_backend_parameter[mine] PASSED" in output
    assert "test_own_backend_among_others[1-a] PASSED" in output
    assert counts(output) == {"passed": 4}


def test_assert_backends_agree_reports_a_failing_reference() -> None:
    # Issue 12, item 15: a failing NumPy reference was a TypeError about None formatting.
    class NoReference(pm.Module):
        def forward(self, X):
            if pm.backend_of(X) == "numpy":
                raise RuntimeError("no reference today")
            return X * 2

    with pytest.raises(AssertionError) as info:
        assert_backends_agree(NoReference, pm.rand(2, 3, backend="numpy"), grads=False)
    assert "numpy (the reference) failed: RuntimeError: no reference today" in str(info.value)


CUT = installed_framework("gluon", "jax")  # the backend GradientOnly cuts


class GradientOnly(pm.Module):
    """The same output everywhere, but on CUT half of it is cut from the gradient."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, X):
        out = self.lin(X)
        if pm.backend_of(out) == CUT:
            return pm.ops.stop_gradient(out * 0.5) + out * 0.5
        return out


def test_a_gradient_only_difference_names_the_parameter() -> None:
    # Issue 12, item 15: it was reported as "output differs ... at the whole model".
    with pytest.raises(AssertionError) as info:
        assert_backends_agree(GradientOnly, pm.rand(2, 3, backend="numpy"))
    message = str(info.value)
    assert f"on {CUT}: gradient of parameter 'lin.weight' differs from torch's" in message
    assert "0.5 of its scale" in message
    assert "output" not in message
