"""`polymod info` warns when the installed NumPy breaks installed packages (issue 17).

The trap: MXNet 1.9.1 needs NumPy < 2, so adding ``polymod[gluon]`` to a NumPy 2
environment downgrades NumPy under packages built for NumPy 2 (ml_dtypes, jax, TF).
The broken mixes below are real distributions' metadata, written as pip writes it.
"""

from __future__ import annotations

import pytest

from polymod import cli, environment


def write_distribution(root, name: str, version: str, *requires: str) -> None:
    """An installed distribution's metadata, as pip leaves it in site-packages."""
    info = root / f"{name}-{version}.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {each}" for each in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(("version", "specifier", "expected"), [
    ("1.26.4", "<2", True), ("2.0.2", "<2", False), ("2.0.2", "<2.0.0,>1.16.0", False),
    ("1.26.4", ">=2.0", False), ("2.3.5", ">=1.26.0", True), ("2.1.0rc1", ">=2.1", True),
    ("1.26.4", "~=1.23", True), ("2.0.0", "~=1.23", False), ("1.26.4", "==1.*", True),
    ("1.26.4", "!=1.26.4", False), ("1.26.4", "", True),
])
def test_satisfies_reads_version_specifiers(version, specifier, expected) -> None:
    assert environment.satisfies(version, specifier) is expected


def test_gluon_added_to_a_numpy2_environment_is_reported(tmp_path) -> None:
    # After `pip install 'polymod[gluon]'` in a NumPy 2 environment: NumPy 1.26.4 beside
    # ml_dtypes, jax and jaxlib releases that need NumPy 2 (their real requirements).
    write_distribution(tmp_path, "numpy", "1.26.4")
    write_distribution(tmp_path, "mxnet", "1.9.1", "numpy<2.0.0,>1.16.0", "requests")
    write_distribution(tmp_path, "ml_dtypes", "0.6.0", "numpy>=2.1.0")
    write_distribution(tmp_path, "jax", "0.10.2", "ml_dtypes>=0.5.0", "numpy>=2.0")
    write_distribution(tmp_path, "jaxlib", "0.10.2", "numpy>=2.0", "scipy>=1.13")
    write_distribution(tmp_path, "scipy", "1.17.1", "numpy<2.7,>=1.26.4")
    conflicts = sorted(environment.numpy_conflicts(paths=[str(tmp_path)]))
    assert conflicts == ["jax 0.10.2 needs numpy>=2.0; NumPy 1.26.4 is installed",
                         "jaxlib 0.10.2 needs numpy>=2.0; NumPy 1.26.4 is installed",
                         "ml_dtypes 0.6.0 needs numpy>=2.1.0; NumPy 1.26.4 is installed"]


def test_mxnet_on_numpy2_is_reported_and_extras_and_markers_are_not(tmp_path) -> None:
    write_distribution(tmp_path, "mxnet", "1.9.1", "numpy<2.0.0,>1.16.0")
    write_distribution(tmp_path, "keras", "3.15.1", "numpy", "numpy<1; extra == 'old'")
    write_distribution(tmp_path, "h5py", "3.16.0", "numpy<1; python_version < '3.0'")
    conflicts = environment.numpy_conflicts(numpy_version="2.3.5", paths=[str(tmp_path)])
    assert conflicts == ["mxnet 1.9.1 needs numpy<2.0.0,>1.16.0; NumPy 2.3.5 is installed"]


def test_this_environment_is_a_sound_mix() -> None:
    # Both CI environments (all frameworks on NumPy 1.26; no gluon on NumPy 2) must pass.
    assert environment.numpy_conflicts() == []


def test_info_warns_about_a_broken_mix(tmp_path, monkeypatch, capsys) -> None:
    # A distribution that needs a NumPy no one has, found first on sys.path.
    write_distribution(tmp_path, "ml_dtypes", "99.0", "numpy>=99")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "warning: the installed NumPy does not suit every installed package:" in out
    assert "ml_dtypes 99.0 needs numpy>=99; NumPy " in out
    assert ("gluon (pip install 'polymod[gluon]') needs NumPy <2: installing it into a "
            "NumPy 2 environment downgrades NumPy") in out


def test_info_of_a_sound_mix_has_no_warning(capsys) -> None:
    assert cli.main(["info"]) == 0
    assert "warning" not in capsys.readouterr().out
