"""The chapter's listings (polymod.examples.chapter) on every backend.

Backend matrix via the ``backend`` fixture; cross-backend agreement with the NumPy
reference; and the oracle: polymod's weights copied into hand-written native
PyTorch / Keras / Gluon versions of each listing, outputs compared.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ORACLES, assert_same_numbers, native_types

import polymod as pm
from polymod import nn, ops, registry
from polymod.examples import chapter
from polymod.examples.chapter import LISTINGS

NAMES = sorted(LISTINGS)

# Output shape for input (2, 20), as printed in the chapter (scalars for FixedHiddenMLP).
SHAPES = {
    "sequential_mlp": (2, 10), "sequential_mlp_gluon_style": (2, 10), "MLP": (2, 10),
    "MySequential": (2, 10), "MySequentialAdd": (2, 10), "MySequentialTuple": (2, 10),
    "FixedHiddenMLP": (), "NestMLP": (2, 16), "chimera": (), "ListSequential": (2, 10),
    "parallel_mlp": (2, 20), "repeated": (2, 10),
}


def _lin(prefix, n_in, n_out):
    return {f"{prefix}weight": (n_out, n_in), f"{prefix}bias": (n_out,)}


MLP_PARAMS = {**_lin("hidden.", 20, 256), **_lin("out.", 256, 10)}
# Parameter names and shapes, identical on every backend (constants excluded).
PARAMS = {
    "sequential_mlp": {**_lin("0.", 20, 256), **_lin("2.", 256, 10)},
    "sequential_mlp_gluon_style": {**_lin("0.", 20, 256), **_lin("1.", 256, 10)},
    "MLP": MLP_PARAMS,
    "MySequential": {**_lin("0.", 20, 256), **_lin("2.", 256, 10)},
    "MySequentialAdd": {**_lin("blocks.0.", 20, 256), **_lin("blocks.1.", 256, 10)},
    "MySequentialTuple": {**_lin("layers.0.", 20, 256), **_lin("layers.1.", 256, 10)},
    "FixedHiddenMLP": _lin("linear.", 20, 20),
    "NestMLP": {**_lin("net.0.", 20, 64), **_lin("net.2.", 64, 32), **_lin("linear.", 32, 16)},
    "chimera": {**_lin("0.net.0.", 20, 64), **_lin("0.net.2.", 64, 32),
                **_lin("0.linear.", 32, 16), **_lin("1.", 16, 20), **_lin("2.linear.", 20, 20)},
    "ListSequential": {**_lin("layers.0.", 20, 256), **_lin("layers.2.", 256, 10)},
    "parallel_mlp": {**{"net1." + k: v for k, v in MLP_PARAMS.items()},
                     **{"net2." + k: v for k, v in MLP_PARAMS.items()}},
    "repeated": {**_lin("0.0.", 20, 32), **_lin("1.0.", 32, 32), **_lin("2.0.", 32, 32),
                 **_lin("3.", 32, 10)},
}
CONSTANTS = {"FixedHiddenMLP": ["rand_weight"], "chimera": ["2.rand_weight"]}


def _run(name, backend, seed=0):
    """Seeded model and input; returns (net, X, output)."""
    pm.seed(seed)
    X = pm.rand(2, 20, backend=backend)
    net = LISTINGS[name]()
    return net, X, net(X)


@pytest.mark.parametrize("name", NAMES)
def test_output_type_shape_and_binding(backend, name):
    net, X, y = _run(name, backend)
    assert isinstance(y, native_types(backend)), type(y)
    assert tuple(pm.to_numpy(y).shape) == SHAPES[name]
    assert pm.backend_of(y) == backend
    assert net.backend == backend
    assert all(m.backend == backend for m in net.modules())


@pytest.mark.parametrize("name", NAMES)
def test_parameter_names_and_counts(backend, name):
    net, _, _ = _run(name, backend)
    params = {n: p.shape for n, p in net.named_parameters()}
    assert params == PARAMS[name]
    assert list(params) == list(PARAMS[name])  # creation order
    assert len(list(net.parameters())) == len(PARAMS[name])
    assert [n for n, _ in net.named_constants()] == CONSTANTS.get(name, [])
    sd = net.state_dict()
    assert set(sd) == set(PARAMS[name]) | set(CONSTANTS.get(name, []))
    assert set(net.state_dict(include_constants=False)) == set(PARAMS[name])
    for key, value in sd.items():
        assert isinstance(value, np.ndarray) and value.dtype == np.float32, key


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_bit_identical_state_dict(backend, name):
    ref, _, _ = _run(name, "numpy")
    net, _, _ = _run(name, backend)
    a, b = ref.state_dict(), net.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_outputs_agree_with_numpy_reference(backend, name):
    _, _, expected = _run(name, "numpy")
    _, _, actual = _run(name, backend)
    assert_same_numbers(actual, expected)


@pytest.mark.backends(*registry.FRAMEWORKS)
@pytest.mark.parametrize("name", NAMES)
def test_matches_hand_written_native_listing(backend, name):
    """polymod's weights in a hand-written native model give the same output."""
    net, X, y = _run(name, backend)
    oracle = ORACLES[backend](name, net.state_dict())
    expected = oracle(X)
    assert isinstance(expected, native_types(backend))
    assert_same_numbers(y, expected)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_reference_matches_native_torch(name):
    """The reference itself against the PyTorch listing (float64 NumPy input to torch)."""
    torch = pytest.importorskip("torch")
    net, X, y = _run(name, "numpy")
    oracle = ORACLES["torch"](name, net.state_dict())
    assert_same_numbers(y, oracle(torch.from_numpy(X)))


def test_fixed_hidden_mlp_constant_and_shared_layer(backend):
    pm.seed(0)
    net = chapter.FixedHiddenMLP()
    # lazy: listed (as PyTorch lists its UninitializedParameters) but without a shape yet
    assert [(n, p.materialized) for n, p in net.named_parameters()] == [
        ("linear.weight", False), ("linear.bias", False)]
    assert [n for n, _ in net.named_constants()] == ["rand_weight"]
    y = net(pm.rand(2, 20))
    assert tuple(pm.to_numpy(y).shape) == ()
    assert [n for n, _ in net.named_parameters()] == ["linear.weight", "linear.bias"]
    # reading the constant gives a native tensor of the bound backend
    assert pm.backend_of(net.rand_weight) == backend
    # the returned scalar's magnitude is at most 1 (the while loop halves until it is)
    assert abs(float(pm.to_numpy(y))) <= 1.0


def test_exercise_1_plain_list_is_tracked(backend):
    """In PyTorch a plain list hides the parameters; here they are found and trained."""
    net, _, _ = _run("ListSequential", backend)
    assert len(list(net.parameters())) == 4
    assert [n for n, _ in net.named_children()] == ["layers.0", "layers.1", "layers.2"]


def test_exercise_2_parallel_concatenates(backend):
    net, X, y = _run("parallel_mlp", backend)
    expected = np.concatenate([pm.to_numpy(net.net1(X)), pm.to_numpy(net.net2(X))], axis=-1)
    assert_same_numbers(y, expected)
    pm.seed(0)
    par = nn.Parallel(nn.Linear(20, 3), nn.Linear(20, 4))
    out = par(X)
    assert tuple(pm.to_numpy(out).shape) == (2, 7)
    assert_same_numbers(out, np.concatenate([pm.to_numpy(m(X)) for m in par.children()], -1))


def test_exercise_3_factory_makes_fresh_instances(backend):
    net, _, _ = _run("repeated", backend)
    w = [p.numpy() for n, p in net.named_parameters() if n.endswith(".0.weight")]
    assert len(w) == 3
    assert not np.array_equal(w[1], w[2])  # distinct instances, distinct weights
    blocks = list(net)[:3]
    assert len({id(b) for b in blocks}) == 3


def test_gluon_and_torch_styles_give_same_function(backend):
    """Sequential(LazyLinear, ReLU, LazyLinear) and Sequential().add(Dense(relu), Dense)."""
    _, X, a = _run("sequential_mlp", backend)
    _, _, b = _run("sequential_mlp_gluon_style", backend)
    assert_same_numbers(a, b)


def test_native_operators_in_forward(backend):
    """@, +, /=, comparisons and a while loop on a scalar tensor work in forward."""

    class Ops(pm.Module):
        def __init__(self):
            super().__init__()
            self.w = pm.Parameter(np.eye(3, dtype=np.float32) * 4)

        def forward(self, X):
            X = X @ self.w + 1
            X /= 2
            n = 0
            while ops.sum(ops.abs(X)) > 1 and n < 100:
                X = X / 2
                n += 1
            return X * 1.0 - 0.0

    X = pm.asarray([[1.0, 2.0, 3.0]])
    assert_same_numbers(Ops()(X), Ops().to("numpy")(pm.to_numpy(X)))


@pytest.mark.backends(*registry.FRAMEWORKS)
@pytest.mark.parametrize("name", ["sequential_mlp", "NestMLP", "FixedHiddenMLP", "chimera"])
def test_assert_backends_agree(backend, name):
    pm.testing.assert_backends_agree(LISTINGS[name], pm.rand(2, 20, backend="numpy"),
                                     backends=[backend])
