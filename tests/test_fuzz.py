"""Property-based cross-backend fuzzing (hypothesis).

Random architectures built from ``polymod.nn`` -- Linear / LazyLinear, the
activations, Sequential, Parallel, nesting, one layer shared by two call sites
(in a chain and across Parallel branches), and a module holding a
``pm.constant`` -- are run on every backend with random inputs (batch 1..,
1-D and 3-D input, tiny and large magnitudes, float64 NumPy input). Outputs must
agree with the NumPy reference and gradients across the frameworks
(``polymod.compare.compare``); an input the model cannot take must give the same
documented ``PolymodError`` on every backend.

Profiles:

* ``ci`` (default): few examples, derandomized, well under a minute.
* ``long``: ``POLYMOD_FUZZ=long pytest tests/test_fuzz.py -s
  --hypothesis-show-statistics`` (1500 examples per property; also
  ``POLYMOD_FUZZ_EXAMPLES=N`` to choose the count).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import stored_dtype
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polymod as pm
from polymod import nn, registry
from polymod.compare import compare

FRAMEWORKS = [b for b in registry.FRAMEWORKS if b in pm.available_backends()]
BACKENDS = ["numpy", *FRAMEWORKS]

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          database=None, suppress_health_check=_HEALTH, print_blob=True)
settings.register_profile("long", max_examples=int(os.environ.get("POLYMOD_FUZZ_EXAMPLES", 1500)),
                          deadline=None, database=None, suppress_health_check=_HEALTH,
                          print_blob=True)
PROFILE = settings.get_profile("long" if os.environ.get("POLYMOD_FUZZ") == "long" else "ci")

# Output tolerance, relative to the largest reference value: float32 matmuls summed
# in another order differ by a few ulps of the largest partial sum, not of each entry.
RTOL, SCALE_TOL = 1e-4, 2e-5
# Gradients through a saturated tanh/sigmoid (inputs ~1e3) are 1 - y*y with y within a few
# ulps of 1: the frameworks' 1-ulp differences in y become ~1e-4 of the largest gradient
# (found by the long run: ('shared', 4, 'tanh') at magnitude 1e3). Real bugs (layout,
# stale or missing gradients) are off by O(1).
GRAD_SCALE_TOL = 2e-4
ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU,
               "identity": nn.Identity}
MAGNITUDES = (1e-30, 1e-6, 1e-3, 1.0, 1e3, 1e6)


class ScaleShift(pm.Module):
    """``X * c + c`` with ``c`` a ``pm.constant`` (follows the backend, no gradient)."""

    def __init__(self, values: np.ndarray):
        super().__init__()
        self.c = pm.constant(values)

    def forward(self, X):
        return X * self.c + self.c


# -- architectures: a spec (nested tuples, printed by hypothesis) and its builder ----------
@st.composite
def node(draw, width: int, depth: int):
    """``(spec, output width)`` of a random module taking ``width`` features."""
    kinds = ["linear", "linear", "act", "const", "shared", "shared_parallel"]
    if depth > 0:
        kinds += ["seq", "seq", "par"]
    kind = draw(st.sampled_from(kinds))
    if kind == "linear":
        out = draw(st.integers(0, 6))  # 0: a zero-width layer
        return ("linear", width, out, draw(st.booleans()), draw(st.booleans())), out
    if kind == "act":
        return ("act", draw(st.sampled_from(sorted(ACTIVATIONS)))), width
    if kind == "const":
        return ("const", width, draw(st.integers(0, 2**16))), width
    if kind == "shared":  # Sequential(lin, act, lin): the same Linear called twice
        return ("shared", width, draw(st.sampled_from(sorted(ACTIVATIONS)))), width
    if kind == "shared_parallel":  # Parallel(lin, Sequential(act, lin)): across branches
        return ("shared_parallel", width, draw(st.sampled_from(sorted(ACTIVATIONS)))), 2 * width
    children, outs = [], []
    for _ in range(draw(st.integers(1, 3))):
        spec, out = draw(node(width if kind == "par" or not outs else outs[-1], depth - 1))
        children.append(spec)
        outs.append(out)
    return (kind, tuple(children)), (sum(outs) if kind == "par" else outs[-1])


def build(spec: tuple) -> pm.Module:
    kind = spec[0]
    if kind == "linear":
        _, width, out, bias, lazy = spec
        return nn.LazyLinear(out, bias=bias) if lazy else nn.Linear(width, out, bias=bias)
    if kind == "act":
        return ACTIVATIONS[spec[1]]()
    if kind == "const":
        rng = np.random.default_rng(spec[2])
        return ScaleShift(rng.uniform(-2, 2, spec[1]).astype(np.float32))
    if kind == "shared":
        lin = nn.Linear(spec[1], spec[1])
        return nn.Sequential(lin, ACTIVATIONS[spec[2]](), lin)
    if kind == "shared_parallel":
        lin = nn.Linear(spec[1], spec[1])
        return nn.Parallel(lin, nn.Sequential(ACTIVATIONS[spec[2]](), lin))
    children = [build(child) for child in spec[1]]
    return nn.Sequential(*children) if kind == "seq" else nn.Parallel(*children)


@st.composite
def cases(draw):
    width = draw(st.integers(1, 8))
    spec, _ = draw(node(width, depth=draw(st.integers(0, 3))))
    batch = draw(st.integers(1, 5))
    rank = draw(st.sampled_from([2, 2, 2, 1, 3]))
    shape = {1: (width,), 2: (batch, width), 3: (2, batch, width)}[rank]
    magnitude = draw(st.sampled_from(MAGNITUDES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = (rng.standard_normal(shape) * magnitude).astype(np.float32)
    return spec, x


def _scale(*arrays: np.ndarray) -> float:
    finite = [np.abs(a[np.isfinite(a)]).max() for a in map(np.asarray, arrays)
              if np.isfinite(a).any()]
    return float(max(finite, default=0.0))


def _close(actual: np.ndarray, expected: np.ndarray, scale_tol: float = SCALE_TOL,
           scale: float | None = None) -> bool:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        return False
    scale = _scale(expected) if scale is None else scale
    return bool(np.allclose(actual, expected, rtol=RTOL, atol=scale_tol * scale + 1e-35,
                            equal_nan=True))


STATS = {"cases": 0, "float64_cases": 0, "error_cases": 0}


@settings(PROFILE)
@given(case=cases(), float64=st.booleans())
def test_backends_agree_on_random_models(case, float64):
    spec, x = case
    STATS["cases"] += 1
    records = compare(lambda: build(spec), [x], backends=FRAMEWORKS, grads=True)
    by_backend = {r.backend: r for r in records}
    reference = by_backend["numpy"]
    assert reference.error is None, f"numpy reference failed: {reference.error}\nspec={spec}"
    first_grads = None
    for backend in FRAMEWORKS:
        record = by_backend[backend]
        assert record.error is None, f"{backend} failed: {record.error}\nspec={spec}"
        assert _close(record._run.outputs[0][1], reference._run.outputs[0][1]), (
            f"{backend} output differs from the NumPy reference (first at "
            f"{record.first_divergence!r}; max |diff| {record.max_abs_diff})\nspec={spec}")
        if first_grads is None:
            first_grads = record._run.grads
            continue
        assert record._run.grads.keys() == first_grads.keys(), spec
        # relative to the largest gradient of any parameter: a gradient that is ~0 in one
        # framework (GELU'(-132) = 1e-27 in TF, 0 in torch) is 0 for the model
        grad_scale = _scale(*first_grads.values())
        for key, value in first_grads.items():
            assert _close(record._run.grads[key], value, GRAD_SCALE_TOL, grad_scale), (
                f"{backend} gradient of {key!r} differs from {FRAMEWORKS[0]}'s\nspec={spec}")
    if float64:  # NumPy float64 input is data: cast to float32, the same numbers
        STATS["float64_cases"] += 1
        for backend in BACKENDS:
            pm.seed(0)
            with pm.use_backend(backend):
                out = pm.to_numpy(build(spec)(x.astype(np.float64)))
            assert out.dtype == np.float32, (backend, out.dtype)
            np.testing.assert_allclose(out, by_backend[backend]._run.outputs[0][1], rtol=1e-6, atol=0,
                                       err_msg=f"{backend}: float64 input, spec={spec}")


@settings(PROFILE)
@given(case=cases(), extra=st.integers(1, 3), kind=st.sampled_from(["features", "dtype"]))
def test_bad_input_is_the_same_error_everywhere(case, extra, kind):
    """Wrong feature count for a fixed-width first layer, or a float64 framework tensor:
    the same documented PolymodError on every backend, naming the module path."""
    spec, x = case
    STATS["error_cases"] += 1
    width = x.shape[-1]
    if kind == "features":
        bad = np.concatenate([x, np.ones(x.shape[:-1] + (extra,), np.float32)], axis=-1)
    else:
        bad = x.astype(np.float64)
    for backend in BACKENDS:
        pm.seed(0)
        with pm.use_backend(backend):
            net = nn.Sequential(nn.Linear(width, width), build(spec))
            data = bad if backend == "numpy" else pm.registry.adapter(backend).from_numpy(bad)
            if kind == "dtype" and (backend == "numpy" or stored_dtype(backend, "float64")
                                    == np.float32):
                # NumPy input is data: float64 is cast to float32, never an error; JAX
                # without x64 has no float64 tensor (from_numpy made it float32)
                assert pm.to_numpy(net(data)).dtype == np.float32
                continue
            expected = pm.ShapeError if kind == "features" else pm.BackendTypeError
            with pytest.raises(expected) as info:
                net(data)
            message = str(info.value)
            assert "(in module '0')" in message, message
            if kind == "features":
                assert f"expects input with {width} features" in message, message
            else:
                assert "float32" in message and "float64" in message, message
                assert "ops.cast" in message, message


def teardown_module(module):
    if os.environ.get("POLYMOD_FUZZ") == "long":
        print(f"\npolymod fuzz statistics: {STATS}")


# -- regressions: what the fuzzer found, pinned ---------------------------------------------
def _grads(backend: str, net: pm.Module, loss) -> dict:
    _, grads = pm.value_and_grad(loss)(net, pm.ones(3, 2, backend=backend))
    return {k: pm.to_numpy(v) for k, v in grads.items()}


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_gradients_of_a_model_without_parameters_are_empty(backend):
    """gluon raised MXNetError (backward() on a value recorded from no parameter)."""
    with pm.use_backend(backend):
        assert _grads(backend, nn.GELU(), lambda m, X: pm.ops.sum(m(X))) == {}


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_zero_width_layer_and_unconnected_loss_give_zero_gradients(backend):
    """gluon failed on Linear(n, 0) (MXNet refuses num_hidden=0) and on a loss that
    depends on no parameter; torch and keras failed on the latter too."""
    with pm.use_backend(backend):
        net = nn.Parallel(nn.Linear(2, 2), nn.Linear(2, 0, bias=False))
        grads = _grads(backend, net, lambda m, X: pm.ops.sum(m(X)))
        assert grads["1.weight"].shape == (0, 2)
        assert grads["0.weight"].sum() == 12.0
        grads = _grads(backend, net, lambda m, X: pm.ops.sum(X))
        assert all(not g.any() for g in grads.values())


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_a_parameter_unused_by_this_loss_gets_zero_not_a_stale_gradient(backend):
    """gluon returned the previous call's gradient for parameters not in this graph."""
    with pm.use_backend(backend):
        a, b = nn.Linear(2, 2), nn.Linear(2, 2)
        net = nn.Parallel(a, b)
        _grads(backend, net, lambda m, X: pm.ops.sum(m(X)))
        grads = _grads(backend, net, lambda m, X: pm.ops.sum(a(X)))
        assert not grads["1.weight"].any() and grads["0.weight"].sum() == 12.0


def test_gelu_of_large_and_infinite_values(backend):
    """torch's GELU kernel gave NaN for +inf and overflowed above 1.7e38."""
    x = np.array([np.inf, 3e38, 11.0, np.nan], np.float32)
    out = pm.to_numpy(nn.GELU().to(backend)(pm.asarray(x, backend=backend)))
    np.testing.assert_array_equal(out[:3], x[:3])
    assert np.isnan(out[3])
