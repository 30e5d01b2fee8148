"""pytest plugin (entry point ``pytest11``): a ``backend`` fixture over installed backends.

* ``backend`` yields the backend's name and runs the test inside ``use_backend``;
  it is parametrised over every backend (numpy included), one test id each.
* ``--backends torch,gluon`` chooses the backends (default: every one in the registry).
* ``@pytest.mark.backends("torch", "keras")`` narrows one test.
* A test with its own ``@pytest.mark.parametrize("backend", ...)`` keeps it: a direct
  parametrization overrides a fixture of the same name (pytest's rule), so the plugin
  adds none.
* ``--backends`` also limits ``polymod.testing.assert_backends_agree`` (the NumPy
  reference always runs).
* A backend whose framework is not installed is a skip that says which extra to install.
"""

from __future__ import annotations

from typing import Any

import pytest

from polymod import registry, selection
from polymod.errors import BackendNameError


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("polymod")
    group.addoption("--backends", default=None, metavar="NAMES",
                    help=f"comma-separated polymod backends for the `backend` fixture "
                         f"(default: {','.join(registry.NAMES)})")


def pytest_configure(config: Any) -> None:
    from . import agree

    config.addinivalue_line("markers", "backends(*names): run this test only on these "
                                       "polymod backends")
    chosen = _chosen(config)  # a bad --backends is a usage error before collection
    if config.getoption("--backends", default=None):
        agree.SELECTED_BACKENDS = chosen


def pytest_unconfigure(config: Any) -> None:
    from . import agree

    agree.SELECTED_BACKENDS = None


def _chosen(config: Any) -> list[str]:
    option = config.getoption("--backends", default=None)
    if not option:
        return list(registry.NAMES)
    try:
        return [registry.canonical_name(n) for n in option.split(",") if n.strip()]
    except BackendNameError as err:
        raise pytest.UsageError(f"--backends: {err}") from None


def _parametrizes_backend(metafunc: Any) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "backend" in names:
            return True
    return False


def pytest_generate_tests(metafunc: Any) -> None:
    if "backend" not in metafunc.fixturenames or _parametrizes_backend(metafunc):
        return
    names = _chosen(metafunc.config)
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is not None:
        try:
            wanted = [registry.canonical_name(n) for n in marker.args]
        except BackendNameError as err:
            raise pytest.UsageError(f"@pytest.mark.backends on {metafunc.function.__name__}: "
                                    f"{err}") from None
        names = [n for n in names if n in wanted]
    metafunc.parametrize("backend", names, indirect=True, ids=names)


def missing_reason(name: str) -> str:
    """The skip reason of a test of backend ``name`` whose framework is not installed."""
    return f"backend {name!r} is not installed: {registry.spec(name).install_hint}"


@pytest.fixture
def backend(request: Any) -> Any:
    """The backend's name; the test runs inside ``pm.use_backend(name)``."""
    name = request.param
    if not registry.is_installed(name):
        pytest.skip(missing_reason(name))
    registry.adapter(name)
    with selection.use_backend(name):
        yield name
