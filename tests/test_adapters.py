"""Adapter conformance: every polymod.backends.<name> module defines the same public names."""

from __future__ import annotations

import inspect
import types

import numpy as np
import pytest

import polymod as pm
from polymod import registry
from polymod.adapter import interface_names

ALL = list(registry.NAMES)
FRAMEWORKS = list(registry.FRAMEWORKS)
# The names the core relies on: written once, with their contracts, in polymod/adapter.py.
CORE = set(interface_names())


def _adapter(name):
    if not registry.is_installed(name):
        pytest.skip(f"backend {name!r} is not installed")
    return registry.adapter(name)


def public_names(module) -> set[str]:
    """What the adapter itself defines: not imported modules, not its own classes (the twin
    classes differ by framework), not names imported from polymod (errors)."""
    names = set()
    for key, value in vars(module).items():
        if key.startswith("_") or key == "annotations" or isinstance(value, types.ModuleType):
            continue
        owner = getattr(value, "__module__", "") or ""
        if isinstance(value, type) and (owner == module.__name__ or owner.startswith("polymod")):
            continue
        if getattr(value, "__module__", "") in ("typing",):
            continue
        names.add(key)
    return names


@pytest.mark.parametrize("name", ALL)
def test_adapter_defines_the_core_interface(name):
    module = _adapter(name)
    missing = CORE - public_names(module)
    assert not missing, f"polymod.backends.{name} lacks {sorted(missing)}"
    assert module.NAME == name
    assert isinstance(module.TENSOR_TYPES, tuple)
    assert all(isinstance(t, type) for t in module.TENSOR_TYPES)
    assert isinstance(module.version(), str)


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_adapters_define_the_same_public_names(name):
    reference = public_names(_adapter(registry.REFERENCE))
    names = public_names(_adapter(name))
    assert names == reference, (f"only in {name}: {sorted(names - reference)}; "
                                f"only in the reference: {sorted(reference - names)}")


def test_the_interface_lists_every_adapter_name():
    """polymod/adapter.py documents every name the adapters share, and no other."""
    assert set(public_names(_adapter(registry.REFERENCE))) == CORE


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_adapter_functions_take_the_same_arguments(name):
    """Where both signatures can be read, the required positional counts agree."""
    reference, module = _adapter(registry.REFERENCE), _adapter(name)
    mismatched = []
    for key in sorted(public_names(reference) & public_names(module)):
        a, b = getattr(reference, key), getattr(module, key)
        if not (callable(a) and callable(b)):
            continue
        try:
            sa, sb = inspect.signature(a), inspect.signature(b)
        except (TypeError, ValueError):
            continue  # a C builtin: no signature to compare
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in
               list(sa.parameters.values()) + list(sb.parameters.values())):
            continue
        def required(sig):
            return sum(1 for p in sig.parameters.values()
                       if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                              p.POSITIONAL_OR_KEYWORD))
        if required(sa) != required(sb) and inspect.isfunction(a) and inspect.isfunction(b):
            mismatched.append(f"{key}{sa} vs {sb}")
    assert not mismatched, mismatched


@pytest.mark.parametrize("name", ALL)
def test_adapter_round_trip_and_assign(name):
    module = _adapter(name)
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = module.from_numpy(array)
    assert isinstance(x, module.TENSOR_TYPES)
    assert np.array_equal(module.to_numpy(x), array)
    assert module.dtype_of(x) == np.float32 and tuple(module.shape(x)) == (2, 3)
    # create_parameter owns the array it is given (backends/__init__.py): pass a copy.
    native, value = module.create_parameter(array.copy(), "w", True, None)
    assert np.array_equal(module.to_numpy(value), array)
    # assign writes in place and returns None, or (immutable arrays: JAX) returns the new
    # tensor, which the caller's handle then points to (polymod/adapter.py)
    new = module.assign(value, np.ones((2, 3), np.float32))
    value = value if new is None else new
    assert np.array_equal(module.to_numpy(value), np.ones((2, 3), np.float32))
    assert np.array_equal(array, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert pm.backend_of(value) == name


def test_adapters_are_imported_lazily_and_only_there():
    """No core module imports a framework at module level (only backends/ do)."""
    import pathlib
    import re

    core = pathlib.Path(pm.__file__).parent
    frameworks = "|".join(m for name in registry.FRAMEWORKS for m in registry.spec(name).requires)
    pattern = re.compile(rf"^(import|from)\s+({frameworks})\b", re.M)
    offenders = [str(p.relative_to(core)) for p in core.rglob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []
