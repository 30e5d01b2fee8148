"""Shape and indexing ops against torch, on every backend: tril/triu, einsum, pad,
broadcast_to/expand, take_along_axis (torch.gather). Values and gradients; NaN, bool,
empty and batched inputs get the same outcome everywhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from op_check import check_op

import polymod as pm
from polymod import ops

RNG = np.random.RandomState(0)
X = RNG.randn(2, 3, 4).astype(np.float32)
M = RNG.randn(4, 5).astype(np.float32)


@pytest.mark.parametrize("k", [0, 1, -1, 3, -5])
@pytest.mark.parametrize("op", ["tril", "triu"])
def test_tril_triu_match_torch(backend, op, k):
    check_op(lambda x: getattr(ops, op)(x, k), lambda x: getattr(torch, op)(x, k), [X],
             backend)
    check_op(lambda x: getattr(ops, op)(x, k=k), lambda x: getattr(torch, op)(x, k), [M],
             backend)


@pytest.mark.parametrize("op", ["tril", "triu"])
def test_tril_triu_of_bool_and_nan(backend, op):
    ones = np.ones((3, 5), bool)
    check_op(lambda x: getattr(ops, op)(x), lambda x: getattr(torch, op)(x), [ones], backend)
    nan = np.full((3, 3), np.nan, np.float32)
    check_op(lambda x: getattr(ops, op)(x, 1), lambda x: getattr(torch, op)(x, 1), [nan],
             backend, grads=False)


EINSUMS = {
    "matmul": ("ij,jk->ik", [M.T.copy(), M]),
    "batched": ("bij,bjk->bik", [X, RNG.randn(2, 4, 3).astype(np.float32)]),
    "outer": ("i,j->ij", [M[0], M[1, :4]]),
    "diagonal": ("ii->i", [M[:4, :4].copy()]),
    "trace_implicit": ("ii", [M[:4, :4].copy()]),
    "batched_diagonal": ("bii,bj->bij", [RNG.randn(2, 3, 3).astype(np.float32), X[:, 0]]),
    "sum_all": ("ijk->", [X]),
    "ellipsis": ("...ij,...jk->...ik", [X, RNG.randn(2, 4, 2).astype(np.float32)]),
    "attention": ("bhqd,bhkd->bhqk", [RNG.randn(2, 2, 3, 4).astype(np.float32),
                                      RNG.randn(2, 2, 5, 4).astype(np.float32)]),
}


@pytest.mark.parametrize("name", sorted(EINSUMS))
def test_einsum_matches_torch(backend, name):
    subscripts, arrays = EINSUMS[name]
    check_op(lambda *xs: ops.einsum(subscripts, *xs),
             lambda *xs: torch.einsum(subscripts, *xs), arrays, backend, rtol=1e-5, atol=1e-5)


def test_einsum_mixes_numpy_data_and_tensors(backend):
    a = pm.asarray(M)
    out = ops.einsum("ij,j->i", a, np.ones(5, np.float32))
    assert pm.backend_of(out) == backend
    np.testing.assert_allclose(pm.to_numpy(out), M.sum(1), rtol=1e-5)
    with pytest.raises(TypeError, match="subscripts"):
        ops.einsum(a, "ij->i")


def _torch_pad(pairs):
    return [p for pair in reversed(pairs) for p in pair]


PADS = {  # name: (pad_width given to ops.pad, per-axis pairs for torch, mode, value)
    "constant_pairs": ([(0, 0), (1, 2), (0, 3)], [(0, 0), (1, 2), (0, 3)], "constant", 0.0),
    "constant_value": ([(1, 0), (0, 0), (2, 2)], [(1, 0), (0, 0), (2, 2)], "constant", -1.5),
    "constant_int": (1, [(1, 1)] * 3, "constant", 0.0),
    "constant_pair": ((0, 2), [(0, 2)] * 3, "constant", 0.5),
    "reflect": ([(0, 0), (1, 2), (2, 3)], [(0, 0), (1, 2), (2, 3)], "reflect", 0.0),
    "replicate": ([(0, 0), (2, 1), (3, 0)], [(0, 0), (2, 1), (3, 0)], "replicate", 0.0),
    "circular": ([(0, 0), (0, 2), (1, 3)], [(0, 0), (0, 2), (1, 3)], "circular", 0.0),
}


@pytest.mark.parametrize("name", sorted(PADS))
def test_pad_matches_torch(backend, name):
    ours, pairs, mode, value = PADS[name]

    def theirs(x):
        if mode == "constant":
            return F.pad(x, _torch_pad(pairs), value=value)
        # torch's non-constant modes pad the trailing axes of batched input only
        return F.pad(x, _torch_pad(pairs[1:]), mode=mode)

    check_op(lambda x: ops.pad(x, ours, mode=mode, value=value), theirs, [X], backend)


def test_pad_aliases_nan_and_errors(backend):
    x = pm.asarray(np.array([[1.0, np.nan, 3.0]], np.float32))
    assert np.array_equal(pm.to_numpy(ops.pad(x, ((0, 0), (2, 1)), mode="edge")),
                          [[1.0, 1.0, 1.0, np.nan, 3.0, 3.0]], equal_nan=True)
    assert np.array_equal(pm.to_numpy(ops.pad(x, ((0, 0), (1, 1)), mode="wrap")),
                          [[3.0, 1.0, np.nan, 3.0, 1.0]], equal_nan=True)
    assert pm.to_numpy(ops.pad(pm.zeros(0, 2), ((0, 0), (1, 1)), value=2.0)).shape == (0, 4)
    assert pm.to_numpy(ops.pad(pm.zeros(2, 2), 0)).shape == (2, 2)
    with pytest.raises(ValueError, match=">= 0"):
        ops.pad(x, ((0, 0), (-1, 0)))
    with pytest.raises(ValueError, match="mode"):
        ops.pad(x, 1, mode="symmetric")
    with pytest.raises(ValueError, match="smaller than the axis size"):
        ops.pad(x, ((0, 0), (3, 0)), mode="reflect")
    with pytest.raises(ValueError, match="one per axis"):
        ops.pad(x, ((0, 0), (1, 0), (1, 1)))


def test_pad_of_integer_tensors(backend):
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    check_op(lambda x: ops.pad(x, ((1, 0), (0, 2)), value=7),
             lambda x: F.pad(x, [0, 2, 1, 0], value=7), [x], backend)


@pytest.mark.parametrize("shape, torch_shape", [((2, 3, 4), (2, 3, 4)), ((5, 2, 3, 4), None),
                                                ((2, -1, 4), (2, 3, 4)), ((3, 2, 3, -1), None)])
def test_broadcast_to_and_expand_match_torch(backend, shape, torch_shape):
    x = X[:, :1, :]  # (2, 1, 4)
    x = np.broadcast_to(x, (2, 3, 4)).copy() if -1 in shape and shape[-1] == -1 else x
    check_op(lambda x: ops.broadcast_to(x, shape), lambda x: x.expand(*shape), [x], backend)
    check_op(lambda x: ops.expand(x, shape), lambda x: x.expand(*shape), [x], backend)


def test_broadcast_to_errors():
    x = pm.ones(2, 1, backend="numpy")
    with pytest.raises(ValueError, match="new leading axis"):
        ops.broadcast_to(x, (-1, 2, 3))
    with pytest.raises(ValueError, match="fewer axes"):
        ops.broadcast_to(x, (2,))


INDEX = np.array([[[0, 3, 3], [1, 0, 2], [2, 2, 2]], [[3, 3, 0], [0, 1, 1], [1, 1, 3]]])


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_take_along_axis_is_torch_gather(backend, dtype):
    idx = INDEX.astype(dtype)
    check_op(lambda x, i: ops.take_along_axis(x, i, axis=2),
             lambda x, i: torch.gather(x, 2, i.long()), [X, idx], backend)
    along0 = np.array([[[1, 0, 1, 1]], [[0, 0, 1, 0]]]).astype(dtype)  # (2, 1, 4)
    check_op(lambda x, i: ops.take_along_axis(x, i, 0), lambda x, i: torch.gather(x, 0, i.long()),
             [X, along0], backend)


def test_take_along_axis_with_shorter_index_axes_as_torch(backend):
    idx = np.array([[[2], [0]]])  # (1, 2, 1): torch.gather reads x[:1, :2, :]
    check_op(lambda x, i: ops.take_along_axis(x, i, -1), lambda x, i: torch.gather(x, -1, i),
             [X, idx], backend)
    out = ops.take_along_axis(pm.asarray(X), idx, -1)  # NumPy indices go to the backend
    assert pm.backend_of(out) == backend and tuple(pm.to_numpy(out).shape) == (1, 2, 1)


def test_take_along_axis_errors_and_empty(backend):
    x = pm.asarray(X)
    with pytest.raises(ValueError, match="same rank"):
        ops.take_along_axis(x, np.zeros((2, 3), np.int64), 1)
    with pytest.raises(ValueError, match="larger than x"):
        ops.take_along_axis(x, np.zeros((3, 3, 1), np.int64), 2)
    empty = ops.take_along_axis(x, np.zeros((2, 3, 0), np.int64), 2)
    assert tuple(pm.to_numpy(empty).shape) == (2, 3, 0)
