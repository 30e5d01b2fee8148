"""Issue 12, inputs: odd NumPy data, dtypes and mixed operands get the same outcome on
every backend. Each test pins one case of the issue (its item number in the docstring)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import polymod as pm
from polymod import nn, ops, registry


# -- item 9: ndarray subclasses are data ---------------------------------------------------
def _memmap(tmp_path):
    array = np.memmap(tmp_path / "x.dat", dtype="float32", mode="w+", shape=(2, 3))
    array[:] = np.arange(6, dtype=np.float32).reshape(2, 3)
    return array


def _matrix(array):
    with warnings.catch_warnings():  # NumPy discourages np.matrix; users still have them
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(array)


SUBCLASSES = {
    "memmap": _memmap,
    "matrix": lambda _: _matrix(np.arange(6, dtype=np.float64).reshape(2, 3)),
    "masked_without_masked_values": lambda _: np.ma.masked_array(
        np.arange(6, dtype=np.float32).reshape(2, 3)),
    "record_array_view": lambda _: np.arange(6, dtype=np.float32).reshape(2, 3).view(
        np.recarray),
}


@pytest.mark.parametrize("kind", sorted(SUBCLASSES))
@pytest.mark.parametrize("bound", [True, False])
def test_ndarray_subclasses_are_taken_as_plain_arrays(backend, kind, bound, tmp_path):
    """Item 9: raw errors ('tuple' object has no attribute 'rank', AssertionError)."""
    pm.seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    if bound:
        net.to(backend)
    data = SUBCLASSES[kind](tmp_path)
    out = net(data)  # unbound: binds to the default backend, which the fixture sets
    assert pm.backend_of(out) == backend
    assert type(out) in registry.adapter(pm.backend_of(out)).TENSOR_TYPES or \
        isinstance(out, registry.adapter(pm.backend_of(out)).TENSOR_TYPES)
    assert not isinstance(out, (np.matrix, np.ma.MaskedArray, np.memmap))
    expected = net(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_allclose(pm.to_numpy(out), pm.to_numpy(expected), rtol=1e-6)


def test_a_masked_array_with_masked_values_is_refused_everywhere(backend):
    """Item 9 (decided): np.asarray would pass the hidden values on, so refuse clearly."""
    data = np.ma.masked_array(np.ones((2, 3), np.float32), mask=[[0, 1, 0], [0, 0, 1]])
    net = nn.Linear(3, 2).to(backend)
    with pytest.raises(pm.BackendTypeError, match="masked array with 2 masked values.*"
                                                  "x.filled"):
        net(data)
    net(data.filled(0.0))


def test_a_structured_record_array_is_refused_everywhere(backend):
    records = np.rec.fromarrays([np.ones(2), np.zeros(2)], names="a,b")
    with pytest.raises(pm.BackendTypeError, match="expects numeric input"):
        nn.Linear(2, 1).to(backend)(records)


# -- weak spot: a NumPy scalar as input ----------------------------------------------------
@pytest.mark.parametrize("scalar", [np.float64(1.0), np.float32(1.0), np.array(1.0)])
@pytest.mark.parametrize("lazy", [False, True])
def test_a_numpy_scalar_input_says_it_needs_a_batch_dimension(backend, scalar, lazy):
    """The hint was "Convert it with ops.cast", which then led to a ShapeError."""
    net = (nn.LazyLinear(1) if lazy else nn.Linear(3, 1)).to(backend)
    with pytest.raises(pm.ShapeError, match=r"received a scalar.*batch dimension, e\.g\. "
                                            r"x\.reshape\(1, (3|-1)\)"):
        net(scalar)


# -- weak spot: MXNet's legacy NDArray -------------------------------------------------------
@pytest.mark.backends("gluon")
def test_a_legacy_mxnet_ndarray_gets_a_hint_that_works(backend):
    import mxnet as mx

    legacy = mx.nd.ones((2, 3))
    net = nn.Linear(3, 2)
    for call in (lambda: net(legacy), lambda: net.to("gluon")(legacy),
                 lambda: pm.asarray(legacy), lambda: pm.to_numpy(legacy)):
        with pytest.raises(pm.BackendTypeError, match=r"legacy NDArray: convert it with "
                                                      r"x\.as_np_ndarray\(\)"):
            call()
    out = net(legacy.as_np_ndarray())  # the hint works
    assert pm.backend_of(out) == "gluon"


# -- item 10: bfloat16 input ---------------------------------------------------------------
def _bfloat16(backend, shape):
    if backend == "torch":
        import torch

        return torch.ones(shape, dtype=torch.bfloat16)
    import tensorflow as tf

    return tf.ones(shape, dtype=tf.bfloat16)


BF16_LAYERS = {
    "linear_2d": (lambda: nn.Linear(3, 2), (2, 3)),
    "linear_1d": (lambda: nn.Linear(3, 2), (3,)),
    "linear_3d": (lambda: nn.Linear(3, 2), (4, 2, 3)),
    "relu_then_linear": (lambda: nn.Sequential(nn.ReLU(), nn.Linear(3, 2)), (2, 3)),
    "conv2d": (lambda: nn.Conv2d(2, 2, 3), (1, 2, 5, 5)),
    "batchnorm": (lambda: nn.BatchNorm1d(3), (2, 3)),
    "layernorm": (lambda: nn.LayerNorm(3), (2, 3)),
}


# MXNet's NumPy arrays have no bfloat16 (`mx.np.ones(..., dtype='bfloat16')` is a
# TypeError), so a gluon model cannot be given such input at all.
@pytest.mark.backends("torch", "keras")
@pytest.mark.parametrize("layer", sorted(BF16_LAYERS))
def test_bfloat16_input_is_refused_as_on_torch(backend, layer):
    """Item 10: Keras multiplied bfloat16 input by float32 weights (tf.matmul's
    sparse_matmul) where torch refuses; torch's BatchNorm and LayerNorm (built from
    elementwise ops) computed it too."""
    make, shape = BF16_LAYERS[layer]
    with pytest.raises(pm.BackendTypeError, match="expects float32 input; received a "
                                                  f"{backend} tensor of dtype bfloat16"):
        make().to(backend)(_bfloat16(backend, shape))


@pytest.mark.parametrize("layer", ["batchnorm", "layernorm"])
def test_norm_layers_refuse_another_float_dtype_everywhere(backend, layer):
    """Torch and MXNet promoted float64 input through the norms' elementwise ops."""
    make, shape = BF16_LAYERS[layer]
    x = pm.asarray(np.ones(shape), backend=backend, dtype="float64")
    if backend == registry.REFERENCE:  # NumPy data is data: cast, as for every layer
        assert make()(x).dtype == np.float32
        return
    with pytest.raises(pm.BackendTypeError, match="expects float32 input; received a "
                                                  f"{backend} tensor of dtype float64"):
        make().to(backend)(x)


# -- item 11: mixed NumPy operands in ops ------------------------------------------------------
def _x(backend):
    return pm.asarray(np.arange(6, dtype=np.float32).reshape(2, 3), backend=backend)


MASK = np.array([[True, False, True], [False, False, True]])
MIXED = {
    "masked_fill": (lambda x: ops.masked_fill(x, MASK, -1.0),
                    np.where(MASK, -1.0, np.arange(6).reshape(2, 3))),
    "concat_numpy_second": (lambda x: ops.concat([x, np.ones((2, 3), np.float32)], 1), None),
    "concat_numpy_first": (lambda x: ops.concat([np.ones((2, 3), np.float32), x], 1), None),
    "stack": (lambda x: ops.stack([x, np.ones((2, 3))], 0), None),
    "take": (lambda x: ops.take(x, np.array([2, 0]), 1), None),
    "add_float64": (lambda x: ops.add(x, np.full((2, 3), 0.5)), None),
    "add_int": (lambda x: ops.add(x, np.ones((2, 3), np.int64)), None),
    "multiply_memmap_like": (lambda x: ops.multiply(x, np.ones((2, 3)).view(np.recarray)),
                             None),
    "where_numpy_mask_and_branch": (lambda x: ops.where(MASK, x, np.zeros((2, 3))), None),
    "matmul": (lambda x: ops.matmul(x, np.ones((3, 2))), None),
}


@pytest.mark.parametrize("case", sorted(MIXED))
def test_numpy_operands_in_ops_give_the_same_result_everywhere(backend, case):
    """Item 11: masked_fill, concat and friends with a NumPy operand worked on keras only."""
    fn, expected = MIXED[case]
    out = fn(_x(backend))
    reference = fn(_x("numpy"))
    assert pm.backend_of(out) == backend
    assert pm.to_numpy(out).dtype == np.float32  # the tensor's dtype, on every backend
    np.testing.assert_allclose(pm.to_numpy(out), reference, rtol=1e-6)
    if expected is not None:
        np.testing.assert_allclose(pm.to_numpy(out), expected)


def test_float_indices_into_an_embedding_are_refused_everywhere(backend):
    """Item 11: Gluon's Embedding took float32 indices (1.7 became row 1)."""
    emb = nn.Embedding(5, 2).to(backend)
    for indices in (np.array([1.7, 2.0]), pm.asarray(np.array([1.7, 2.0]), backend=backend)):
        with pytest.raises(pm.BackendTypeError, match="Embedding expects integer indices"):
            emb(indices)
    assert tuple(emb(np.array([1, 2])).shape) == (2, 2)


class Pick(pm.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 3)

    def forward(self, X, mask, index):
        return ops.take(ops.masked_fill(self.proj(X), mask, 0.0), index, 1)


class Picker(pm.Module):
    def __init__(self):
        super().__init__()
        self.pick = Pick()

    def forward(self, X, mask):
        return self.pick(X, mask, np.array([2, 0]))


def test_bool_and_int_arrays_as_later_positional_arguments_of_a_submodule(backend):
    """Item 11: the numpy backend refused them ('MaskedMean expects float input')."""
    pm.seed(0)
    net = Picker().to(backend)
    out = net(np.ones((2, 3), np.float32), MASK)
    assert pm.backend_of(out) == backend
    pm.seed(0)
    reference = Picker().to("numpy")(np.ones((2, 3), np.float32), MASK)
    np.testing.assert_allclose(pm.to_numpy(out), reference, rtol=1e-6)
